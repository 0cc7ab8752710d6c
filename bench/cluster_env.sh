# Settings for `python -m bot run-cluster` as the load benchmark runs it (docs/benchmarks.md,
# "Load: this project and stock Rasa"): a PostgreSQL database and a Redis prefix of its own, free
# ports, a random REST token, rate limits raised, logs outside var/. Source it: `. bench/cluster_env.sh`.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
P() { .venv/bin/python -c 'from bot.deploy.services import free_port; print(free_port())'; }
export DOTENV_DISABLED=1 RASA_REPLICAS=2 RASA_PORT=$(P) ACTION_PORT=$(P) SITE_PORT=$(P) CONSOLE_PORT=$(P)
export DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/bench_cluster
export TRACKER_STORE_URL=postgresql://postgres@127.0.0.1:5432/bench_cluster
export REDIS_URL=redis://127.0.0.1:6379/0 REDIS_KEY_PREFIX=benchcluster
export DATA_KEYS=$(.venv/bin/python -c 'from bot.crypto import new_key; print(new_key())')
export ACTION_SERVER_SECRET=$(openssl rand -hex 32) SITE_SECRET_KEY=$(openssl rand -hex 32)
export REST_CHANNEL=token REST_CHANNEL_TOKEN=$(openssl rand -hex 24)
export RATE_LIMIT_PER_ADDRESS=1000000 RATE_LIMIT_PER_SENDER=1000000 SMTP_HOST=
export OUTBOX_DIR=/tmp/bench-cluster/outbox SPOOL_DIR=/tmp/bench-cluster/spool LOG_DIR=/tmp/bench-cluster/log
mkdir -p /tmp/bench-cluster
