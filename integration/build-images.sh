#!/bin/bash
# Builds the offline PostgreSQL images the integration suite runs, because these
# machines have no container registry:
#
#   flowpg.local/postgres:15   PostgreSQL 15 from Debian bookworm
#   flowpg.local/postgres:17   PostgreSQL 17 from Debian trixie
#
# Each image is a debootstrap'ed Debian with the server, plus
# image/docker-entrypoint.sh, imported with "docker import". An image that
# already exists is left alone unless it was built with another entrypoint
# (its label org.flowpg.entrypoint-sha256 says which); docker rmi forces a rebuild.
#
# When FLOWPG_TEST_PG_IMAGES is set (say "postgres:15,postgres:17" on a machine
# with a registry), the suite uses those images and this script does nothing.
#
# Needs root, a running Docker engine (see docker-up.sh) and the Debian mirror.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
entrypoint_sha=$(sha256sum "$here/image/docker-entrypoint.sh" | cut -d' ' -f1)

if [ -n "${FLOWPG_TEST_PG_IMAGES:-}" ]; then
	echo "build-images: FLOWPG_TEST_PG_IMAGES=$FLOWPG_TEST_PG_IMAGES is set; nothing to build"
	exit 0
fi

# mirror prints the first Debian mirror in the machine's own apt sources that is
# not the security archive. Never hard-code a host here: every machine has its own.
mirror() {
	local m=''
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
			/etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) print $i; break } }' \
			/etc/apt/sources.list | head -n1)
	fi
	if [ -z "$m" ]; then
		echo 'build-images: no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list' >&2
		return 1
	fi
	printf '%s\n' "$m"
}

# build VERSION SUITE MIRROR builds flowpg.local/postgres:VERSION.
build() {
	local version=$1 suite=$2 mirror=$3
	local tag="flowpg.local/postgres:$version"
	local start=$SECONDS
	local dir
	dir=$(mktemp -d "${TMPDIR:-/tmp}/flowpg-rootfs-$version.XXXXXX")
	# shellcheck disable=SC2064 # expand $dir now, the trap runs in this subshell.
	trap "rm -rf '$dir'" EXIT

	echo "build-images: $tag: debootstrap $suite from $mirror"
	debootstrap --variant=minbase --include="postgresql-$version,ca-certificates,openssl" \
		"$suite" "$dir" "$mirror"

	# The package's own cluster (/var/lib/postgresql/NN/main) is never used:
	# the entrypoint runs initdb in PGDATA. The rest is what an image never reads.
	rm -rf "$dir/var/lib/postgresql/$version" "$dir/etc/postgresql/$version" \
		"$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
		"$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
		"$dir"/usr/share/locale/* "$dir"/var/log/*.log
	# JIT is only tried for very expensive queries and silently turns itself off
	# when its provider is missing; LLVM is a third of the image.
	rm -f "$dir/usr/lib/postgresql/$version/lib/llvmjit.so" "$dir"/usr/lib/x86_64-linux-gnu/libLLVM*.so* \
		"$dir"/usr/lib/*/libLLVM*.so*
	rm -rf "$dir/usr/lib/postgresql/$version/lib/bitcode"

	install -m 0755 "$here/image/docker-entrypoint.sh" "$dir/usr/local/bin/docker-entrypoint.sh"
	install -d -m 0755 "$dir/docker-entrypoint-initdb.d"
	install -d -o 0 -g 0 -m 3777 "$dir/var/run/postgresql"

	local old
	old=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
	tar -C "$dir" -c . | docker import \
		--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
		--change 'CMD ["postgres"]' \
		--change "ENV PATH=/usr/lib/postgresql/$version/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		--change 'ENV PGDATA=/var/lib/postgresql/data' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'EXPOSE 5432' \
		--change "LABEL org.opencontainers.image.title=flowpg-postgres-$version" \
		--change "LABEL org.flowpg.entrypoint-sha256=$entrypoint_sha" \
		- "$tag" >/dev/null

	rm -rf "$dir"
	trap - EXIT
	# The image this one replaces is now untagged; drop it unless a container uses it.
	[ -n "$old" ] && docker rmi "$old" >/dev/null 2>&1 || true
	echo "build-images: $tag: built in $((SECONDS - start)) s ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%d MB", $1 / 1e6 }'))"
}

main() {
	if [ "$(id -u)" != 0 ]; then
		echo 'build-images: debootstrap needs root' >&2
		exit 1
	fi
	if ! docker info >/dev/null 2>&1; then
		echo 'build-images: no Docker engine; run integration/docker-up.sh first' >&2
		exit 1
	fi

	local todo=()
	local spec version
	for spec in 15:bookworm 17:trixie; do
		version=${spec%%:*}
		local have
		have=$(docker image inspect --format '{{index .Config.Labels "org.flowpg.entrypoint-sha256"}}' \
			"flowpg.local/postgres:$version" 2>/dev/null || true)
		if [ "$have" = "$entrypoint_sha" ]; then
			echo "build-images: flowpg.local/postgres:$version exists; skipped"
		else
			[ -n "$have" ] && echo "build-images: flowpg.local/postgres:$version has an older entrypoint; rebuilding"
			todo+=("$spec")
		fi
	done
	[ ${#todo[@]} -eq 0 ] && return 0

	if ! command -v debootstrap >/dev/null; then
		# docker-up.sh has usually refreshed the package lists already.
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
			{ apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
	fi
	local m
	m=$(mirror)

	# Both builds mostly wait on the network, so they run side by side, each
	# with its own log; a failed one shows its log's tail.
	local logdir start=$SECONDS
	logdir=$(mktemp -d "${TMPDIR:-/tmp}/flowpg-build-logs.XXXXXX")
	local -A pids=()
	for spec in "${todo[@]}"; do
		version=${spec%%:*}
		build "$version" "${spec#*:}" "$m" >"$logdir/$version.log" 2>&1 &
		pids[$version]=$!
	done
	local failed=0
	for version in "${!pids[@]}"; do
		if wait "${pids[$version]}"; then
			grep '^build-images:' "$logdir/$version.log"
		else
			failed=1
			echo "build-images: flowpg.local/postgres:$version FAILED; last lines of its log:" >&2
			tail -n 30 "$logdir/$version.log" >&2
		fi
	done
	rm -rf "$logdir"
	echo "build-images: done in $((SECONDS - start)) s"
	return $failed
}

main "$@"
