# The paynode node. Configuration through PAYNODE_* variables (see README "Configuration").
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY node ./node
COPY registry ./registry
COPY contracts ./contracts
COPY devnet ./devnet
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system --home /data paynode && mkdir -p /data \
    && chown paynode /data

ENV PAYNODE_CONFIG_DIR=/app/config \
    PAYNODE_DATA_DIR=/data \
    PAYNODE_HOST=0.0.0.0 \
    PAYNODE_PORT=3001
USER paynode
VOLUME ["/data"]
EXPOSE 3001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import sys, httpx; sys.exit(httpx.get('http://127.0.0.1:3001/health').status_code != 200)"
CMD ["paynode", "serve"]
