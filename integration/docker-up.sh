#!/bin/bash
# Makes sure a Docker engine answers, for the integration suite.
#
# The machines this project runs on have the docker client but no engine, no
# systemd and no registry. As root on Debian this script installs docker.io when
# dockerd is missing, starts dockerd in the background (log in
# $FLOWPG_DOCKERD_LOG, default /var/log/flowpg-dockerd.log) and waits for it.
#
# Exit status: 0 when an engine answers. When none can be had, a loud message
# and then 1 under CI=true (a CI run must not pass by skipping everything), 0
# elsewhere (the Go tests then skip, loudly).
set -uo pipefail

wait_seconds=${FLOWPG_DOCKERD_WAIT:-60}
log=${FLOWPG_DOCKERD_LOG:-/var/log/flowpg-dockerd.log}

give_up() {
	{
		echo '************************************************************'
		echo "docker-up: NO DOCKER ENGINE: $*"
		echo 'docker-up: the integration tests will be SKIPPED (failed under CI=true)'
		echo '************************************************************'
	} >&2
	if [ "${CI:-}" = true ]; then
		exit 1
	fi
	exit 0
}

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null && engine_answers; then
	echo 'docker-up: Docker engine already answers'
	exit 0
fi

[ "$(id -u)" = 0 ] || give_up 'not root, so dockerd cannot be installed or started here'
[ -r /etc/debian_version ] || give_up 'not Debian, so this script does not know how to install dockerd'

if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
	echo 'docker-up: installing docker.io'
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || give_up 'apt-get update failed'
	apt-get install -y -qq docker.io >/dev/null || give_up 'apt-get install docker.io failed'
fi

# dockerd writes its pid file once running; don't start a second one.
if ! { [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; }; then
	mkdir -p "$(dirname "$log")"
	echo "docker-up: starting dockerd (log: $log)"
	nohup dockerd >>"$log" 2>&1 </dev/null &
fi

for ((i = 0; i < wait_seconds; i++)); do
	if engine_answers; then
		echo "docker-up: Docker engine answers after ${i} s"
		exit 0
	fi
	sleep 1
done

tail -n 20 "$log" >&2 2>/dev/null
give_up "dockerd did not answer within ${wait_seconds} s (log: $log)"
