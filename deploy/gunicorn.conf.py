"""Gunicorn settings for a web host: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

The topology test (tests/topology/test_topology.py) starts the web hosts with exactly this file;
the environment variables below are how it (and deploy/systemd/incubator-web.service) adjust it.

- ``preload_app``: the application is built once in the master, so a setting that cannot work
  (unknown STORAGE_URL scheme, Redis or the bucket unreachable) stops gunicorn with one line
  instead of workers failing to boot over and over.
- Metrics from several workers: each worker writes its request samples to files in
  ``PROMETHEUS_MULTIPROC_DIR`` and /metrics adds them up. The directory is emptied when gunicorn
  starts (old counts would otherwise be added in) and one is made for this run when it is not
  set; ``child_exit`` lets a dead worker's live files go.
- No access log: the application logs one line per request itself, with the request id, the
  user and the duration (``LOG_FORMAT=json`` for machines).
"""

import atexit
import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads let a worker answer while another request waits on PostgreSQL; beyond that the GIL
# makes them take turns. Measured with bench/bench_gunicorn.py (bench/README.md): 2 threads per
# worker doubled a bare hello app but lowered the reviewer's list (487 against 607 req/s), so 4.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
preload_app = True
# X-Forwarded-* are trusted only from the reverse proxy on this host (the app's BEHIND_PROXY
# setting decides what Flask makes of them).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None
errorlog = "-"
# gunicorn 24+ opens a control socket under $HOME by default: shared by every instance of the
# user (two on one machine collide) and unwritable under systemd's ProtectHome. Not needed here.
control_socket_disable = True

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Set before the application (and prometheus_client) is imported, so workers inherit it.
    _created_metrics_dir = tempfile.mkdtemp(prefix="incubator-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _created_metrics_dir
    _master_pid = os.getpid()

    def _remove_created_metrics_dir() -> None:
        if os.getpid() == _master_pid:  # workers inherit this handler; only the master cleans up
            shutil.rmtree(_created_metrics_dir, ignore_errors=True)

    # atexit rather than on_exit: it also runs when a bad setting stops gunicorn during start-up.
    atexit.register(_remove_created_metrics_dir)


def on_starting(server):
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for entry in os.listdir(directory):
        path = os.path.join(directory, entry)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
