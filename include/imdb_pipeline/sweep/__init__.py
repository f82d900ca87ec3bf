"""The further-experiments sweep: trial planning, its steps, its comparison report."""
