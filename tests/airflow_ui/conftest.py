"""What the page tests share: JWTs for the roles they call the pages as."""

import pytest


@pytest.fixture(scope="module")
def tokens(airflow_db) -> dict[str, str]:
    """JWTs minted by the test configuration's auth manager (the simple one) for three roles."""
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    manager = create_auth_manager()
    return {
        role or "none": manager.generate_jwt(SimpleAuthManagerUser(username="u", role=role))
        for role in ("admin", "viewer", None)
    }
