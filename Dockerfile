# The Airflow image with newsflow installed: used by every Airflow service in
# docker-compose.yaml. Dependencies come from the same lock file as development.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root pyproject.toml uv.lock README.md /opt/newsflow/
COPY --chown=airflow:root pipeline /opt/newsflow/pipeline
RUN pip install --no-cache-dir "uv==0.13.9" \
 && cd /opt/newsflow \
 && uv export --frozen --no-dev --no-emit-project --no-hashes -o /tmp/requirements.txt \
 && grep -vE "^(apache-airflow|apache-airflow-core|apache-airflow-task-sdk)==" /tmp/requirements.txt > /tmp/req.txt \
 && pip install --no-cache-dir -r /tmp/req.txt \
 && pip install --no-cache-dir --no-deps /opt/newsflow

# The login airflow-init writes: a folder the airflow user owns, so that the named volume
# mounted on it starts out writable.
RUN mkdir -p /opt/airflow/auth

COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
COPY --chown=airflow:root config /opt/newsflow/config
