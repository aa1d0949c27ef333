#!/usr/bin/env bash
# Installs and starts what the test suite needs on a fresh Debian 12 machine: PostgreSQL,
# podman (runc, cgroups v1 friendly), the Docker engine, debootstrap for the offline (Debian) agent
# image, busybox for the runtime tests' minimal images, Debian's chromium for the web console test.
# Idempotent: a second run only checks.
set -euo pipefail

need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v slirp4netns >/dev/null || need+=(slirp4netns)
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx wget || need+=(busybox-static)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# cgroups v1 hybrid hosts without CAP_SYS_RESOURCE need runc and explicit ulimits.
conf=/etc/containers/containers.conf
if ! grep -q 'berth-ci' "$conf" 2>/dev/null; then
  mkdir -p /etc/containers
  cat >>"$conf" <<'CONF'
# berth-ci: settings that let rootful podman run on cgroups v1 hosts
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd"
  setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -30 /var/log/dockerd.log; echo "setup: dockerd did not start" >&2; exit 1; }
fi
echo "setup: podman $(podman --version | awk '{print $3}'), docker $(docker version --format '{{.Server.Version}}'), postgres $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}')"
