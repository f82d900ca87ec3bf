# The project's Airflow image: the official image extended with TensorFlow and this project,
# the way the Airflow docs recommend (https://airflow.apache.org/docs/docker-stack/build.html).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.12
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION
ENV IMDB_PROJECT=/opt/imdb-sentiment \
    IMDB_ARTIFACT_ROOT=/opt/airflow/artifacts \
    TF_CPP_MIN_LOG_LEVEL=2

USER root
RUN mkdir -p ${IMDB_PROJECT} && chown airflow:0 ${IMDB_PROJECT}
USER airflow

# Dependencies first (cached layer), with Airflow pinned to the image's own version.
COPY --chown=airflow:0 requirements.txt pyproject.toml ${IMDB_PROJECT}/
COPY --chown=airflow:0 include ${IMDB_PROJECT}/include
COPY --chown=airflow:0 plugins ${IMDB_PROJECT}/plugins
WORKDIR ${IMDB_PROJECT}
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r requirements.txt

COPY --chown=airflow:0 dags /opt/airflow/dags
WORKDIR /opt/airflow
