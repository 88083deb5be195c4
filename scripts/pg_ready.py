"""Exit 0 when the PostgreSQL URL given as argument accepts connections (used by scripts/test.sh)."""

import sys

import psycopg

url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
try:
    psycopg.connect(url, connect_timeout=3).close()
except psycopg.Error:
    sys.exit(1)
