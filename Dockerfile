FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY modelbox ./modelbox
RUN pip install --no-cache-dir ".[server]" && useradd --create-home modelbox

USER modelbox
# In a container the server listens on every interface; the database comes from
# MODELBOX_MONGODB_URI (docker-compose.yml sets it).
ENV MODELBOX_HOST=0.0.0.0 \
    MODELBOX_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["modelbox", "serve"]
