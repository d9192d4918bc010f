# Switchboard's API and worker image: `switchboard api` by default, `switchboard worker` as command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker.py ./
COPY switchboard ./switchboard
COPY api ./api
COPY workflows ./workflows
COPY activities ./activities
RUN pip install . && useradd --create-home --uid 10001 switchboard
USER switchboard

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SWITCHBOARD_API_PORT', '8000') + '/healthz', timeout=4)"]
CMD ["switchboard", "api"]
