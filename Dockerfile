# The Airflow image for customer onboarding: the official image, extended with the
# project's Python dependencies (https://airflow.apache.org/docs/docker-stack/build.html).
#
# The tag matches the apache-airflow pin in requirements.txt and constraints.txt, so the
# install below neither upgrades nor downgrades Airflow itself. The python3.11 variant
# matches the Python version constraints.txt was resolved for.
FROM apache/airflow:3.3.2-python3.11 AS airflow

# Already the base image's default user; spelled out because the official image expects
# packages to be installed as `airflow`, not as root.
USER airflow

COPY requirements.txt constraints.txt /
RUN pip install --no-cache-dir -r /requirements.txt -c /constraints.txt

# The sandbox of third-party APIs, for demos only: the production image above plus the
# local tools' requirements. `docker compose` builds it for the `sandbox` service alone.
FROM airflow AS sandbox
COPY requirements-local.txt /
RUN pip install --no-cache-dir -r /requirements-local.txt -c /constraints.txt
