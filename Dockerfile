FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY server ./server
COPY web ./web
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --create-home spyglass && mkdir -p /data && chown spyglass /data
USER spyglass
ENV SPYGLASS_HOST=0.0.0.0 \
    SPYGLASS_PORT=3000 \
    SPYGLASS_DATA_DIR=/data
EXPOSE 3000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/api/public/health')"
CMD ["spyglass", "serve"]
