# Sourced by the ops/ entry points: connection settings with local defaults. Override by exporting them first.
export DATABASE_URL="${DATABASE_URL:-postgres://seqrd:seqrd@127.0.0.1:5432/seqrd?sslmode=disable}"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export SEQRD_PYTHON="${SEQRD_PYTHON:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin/python3}"
