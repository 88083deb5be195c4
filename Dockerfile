# whistle — production image. Build: docker build -t whistle .
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WHISTLE_DATA_DIR=/data \
    WHISTLE_KEYS_DIR=/keys

WORKDIR /app
# A font with å, ä and ö for the notice-board poster's PNG (whistle/poster.py), and FriBiDi,
# which Pillow's libraqm loads at start to lay out the Arabic poster's PNG right to left
# (without it the Arabic PNG is not offered; the Arabic PDF needs no system library).
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core libfribidi0 \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md babel.cfg constraints.txt ./
COPY whistle ./whistle
COPY templates ./templates
COPY static ./static
# Installed in place (-e), at the versions of the lock file constraints.txt, so the package
# finds templates/ and static/ beside it; the translations are compiled here because .mo
# files are build products, not committed.
RUN pip install -c constraints.txt -e . \
 && pybabel compile -d whistle/translations -D messages \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin whistle \
 && mkdir -p /data /keys \
 && chown whistle:whistle /data /keys \
 && chmod 0700 /keys

USER whistle
VOLUME ["/data", "/keys"]
EXPOSE 8000

# /readyz, not /healthz: a container whose database is gone or at a newer schema, or whose
# keys or blob store are missing, must not count as healthy (docs/deploy.md, section 4).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status == 200 else 1)"]

# `serve` runs the migrations before it listens.
CMD ["whistle", "serve", "--host", "0.0.0.0", "--port", "8000"]
