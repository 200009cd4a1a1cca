# Production image: the service only, against a real MongoDB (REBATES_MONGODB_URI).
# The embedded development database (SecantusDB, GPL) is deliberately not installed.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements/base.txt requirements/base.txt
RUN /opt/venv/bin/pip install -r requirements/base.txt
COPY pyproject.toml README.md ./
COPY domain domain
COPY service service
COPY schema schema
COPY resolvers resolvers
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim AS runtime
RUN groupadd --system rebates && useradd --system --gid rebates --home /app rebates
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    REBATES_HOST=0.0.0.0 \
    PORT=8000 \
    REBATES_DEMO=0 \
    REBATES_DATA_DIR=/app/data
WORKDIR /app
RUN mkdir -p /app/data && chown rebates:rebates /app/data
USER rebates
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT','8000'), timeout=2)" || exit 1
# REBATES_MONGODB_URI and REBATES_JWT_SECRET (>= 32 bytes) come from the orchestrator.
CMD ["rebates", "serve"]
