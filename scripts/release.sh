#!/bin/bash
# Builds flowpg's release artifacts. Nothing is published.
#
#   release.sh binaries DIR [OS/ARCH...]  static binaries and SHA256SUMS in DIR
#                                         (default: every platform of PLATFORMS)
#   release.sh check DIR                  verify DIR/SHA256SUMS, then build the
#                                         same binaries again from a copy of the
#                                         tree at another path with an empty
#                                         build cache, and require the same bytes
#   release.sh image                      the container image flowpg.local/flowpg
#
# Reproducible: the same commit and Go toolchain give the same bytes. The
# ingredients: CGO_ENABLED=0 (no host C toolchain in the binary), -trimpath (no
# build paths), -ldflags=-buildid= (no build ID), and pinned GOAMD64/GOARM64
# defaults. Version-control stamping stays on: what Go records (revision,
# commit time, modified) depends only on the commit and the tree, never on the
# clock, so `flowpg version` can name the commit. Go stamps only when .git is a
# directory, so binaries built in a git worktree say "(devel)".
#
# VERSION, when set, replaces the version Go records (for trees without git).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PLATFORMS=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64)
IMAGE=${IMAGE:-flowpg.local/flowpg}
GO=${GO:-go}

# build_one SRC OS ARCH OUT builds the flowpg command of the tree SRC.
build_one() {
	local src=$1 os=$2 arch=$3 out=$4
	local ldflags='-s -w -buildid='
	[ -n "${VERSION:-}" ] && ldflags+=" -X github.com/flowpg/flowpg/internal/cli.Version=$VERSION"
	# -buildvcs=true overrides a GOFLAGS=-buildvcs=false in the environment.
	(cd "$src" && env CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" GOAMD64=v1 GOARM64=v8.0 \
		"$GO" build -trimpath -buildvcs=true -ldflags="$ldflags" -o "$out" ./cmd/flowpg)
}

# binaries SRC DIR [OS/ARCH...] builds into DIR (emptied first) and writes SHA256SUMS.
binaries() {
	local src=$1 dir=$2
	shift 2
	local platforms=("$@")
	[ ${#platforms[@]} -eq 0 ] && platforms=("${PLATFORMS[@]}")
	rm -rf "$dir"
	mkdir -p "$dir"
	local p os arch name
	for p in "${platforms[@]}"; do
		os=${p%/*} arch=${p#*/}
		name=flowpg-$os-$arch
		[ "$os" = windows ] && name+=.exe
		build_one "$src" "$os" "$arch" "$dir/$name"
	done
	(cd "$dir" && sha256sum flowpg-* >SHA256SUMS)
}

# sizes DIR lists the binaries with their sizes.
sizes() {
	(cd "$1" && for f in flowpg-*; do
		printf '  %-28s %9d bytes (%s MiB)\n' "$f" "$(stat -c %s "$f")" \
			"$(awk -v b="$(stat -c %s "$f")" 'BEGIN { printf "%.1f", b / 1048576 }')"
	done)
}

cmd_binaries() {
	local dir=${1:?usage: release.sh binaries DIR [OS/ARCH...]}
	shift
	local start=$SECONDS
	binaries "$root" "$dir" "$@"
	echo "release: built in $((SECONDS - start)) s from $(git -C "$root" describe --always --dirty 2>/dev/null || echo 'a tree without git'):"
	sizes "$dir"
}

cmd_check() {
	local dir=${1:?usage: release.sh check DIR}
	dir=$(cd "$dir" && pwd)
	echo "release-check: sha256sum -c $dir/SHA256SUMS"
	(cd "$dir" && sha256sum -c --strict SHA256SUMS)

	# Every binary must say it was built static and without build paths.
	local f
	for f in "$dir"/flowpg-*; do
		[ "${f##*/}" = SHA256SUMS ] && continue
		if ! "$GO" version -m "$f" | grep -q $'\tCGO_ENABLED=0$' ||
			! "$GO" version -m "$f" | grep -q $'\t-trimpath=true$'; then
			echo "release-check: $f was not built with CGO_ENABLED=0 and -trimpath" >&2
			return 1
		fi
	done

	# The second build: another path (so -trimpath must hide it), an empty build
	# cache (so nothing is reused), the same tree, .git included (so the same
	# version-control stamp), and the same platforms as DIR has.
	local tmp
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/flowpg-repro.XXXXXX")
	# shellcheck disable=SC2064 # expand $tmp now.
	trap "rm -rf '$tmp'" EXIT
	mkdir -p "$tmp/elsewhere/src"
	tar -C "$root" --exclude=./dist --exclude=./bin -c . | tar -C "$tmp/elsewhere/src" -x
	local platforms=()
	for f in "$dir"/flowpg-*; do
		f=${f##*/flowpg-}
		f=${f%.exe}
		platforms+=("${f%%-*}/${f#*-}")
	done
	echo "release-check: building ${platforms[*]} again in $tmp/elsewhere/src with an empty GOCACHE"
	local start=$SECONDS
	GOCACHE=$tmp/gocache binaries "$tmp/elsewhere/src" "$tmp/dist" "${platforms[@]}"
	echo "release-check: second build in $((SECONDS - start)) s"
	if ! cmp -s "$dir/SHA256SUMS" "$tmp/dist/SHA256SUMS"; then
		echo 'release-check: NOT REPRODUCIBLE: the second build differs:' >&2
		diff "$dir/SHA256SUMS" "$tmp/dist/SHA256SUMS" >&2 || true
		return 1
	fi
	echo "release-check: reproducible: both builds have these checksums:"
	sed 's/^/  /' "$dir/SHA256SUMS"
}

# cmd_image builds IMAGE from scratch: the static linux binary for the
# engine's architecture, the host's CA bundle (the public roots Debian's
# ca-certificates ships), and a passwd entry for the non-root user 65532.
cmd_image() {
	local bundle=/etc/ssl/certs/ca-certificates.crt
	if [ ! -s "$bundle" ]; then
		echo "image: $bundle is missing; install Debian's ca-certificates package" >&2
		return 1
	fi
	local arch
	case $(docker info --format '{{.Architecture}}') in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*)
		echo "image: unsupported engine architecture $(docker info --format '{{.Architecture}}')" >&2
		return 1
		;;
	esac

	local tmp ctx
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/flowpg-image.XXXXXX")
	# shellcheck disable=SC2064 # expand $tmp now.
	trap "rm -rf '$tmp'" EXIT
	ctx=$tmp/context
	binaries "$root" "$tmp/bin" "linux/$arch"
	install -D -m 0755 "$tmp/bin/flowpg-linux-$arch" "$ctx/flowpg"
	install -m 0644 "$bundle" "$ctx/ca-certificates.crt"
	printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'flowpg:x:65532:65532:flowpg:/nonexistent:/sbin/nologin' >"$ctx/passwd"
	printf '%s\n' 'root:x:0:' 'flowpg:x:65532:' >"$ctx/group"
	cp "$root/Dockerfile" "$ctx/Dockerfile"

	local version revision
	version=$("$GO" version -m "$ctx/flowpg" | awk '$1 == "mod" { print $3 }')
	revision=$("$GO" version -m "$ctx/flowpg" | awk -F= '$1 ~ /vcs.revision$/ { print $2 }')
	local old
	old=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
	# The legacy builder: these machines have no buildx, and it needs nothing
	# but the engine. Its deprecation notice is shown only if the build fails.
	if ! DOCKER_BUILDKIT=0 docker build --quiet \
		--label "org.opencontainers.image.version=$version" \
		--label "org.opencontainers.image.revision=${revision:-unknown}" \
		-t "$IMAGE" "$ctx" >"$tmp/build.log" 2>&1; then
		cat "$tmp/build.log" >&2
		return 1
	fi
	# The image this one replaces is now untagged; drop it unless a container uses it.
	if [ -n "$old" ] && [ "$old" != "$(docker image inspect --format '{{.Id}}' "$IMAGE")" ]; then
		docker rmi "$old" >/dev/null 2>&1 || true
	fi
	echo "image: $IMAGE ($version, linux/$arch): $(docker image inspect --format '{{.Size}}' "$IMAGE") bytes;" \
		"binary $(stat -c %s "$ctx/flowpg") bytes, CA bundle $(stat -c %s "$ctx/ca-certificates.crt") bytes ($(grep -c 'BEGIN CERTIFICATE' "$ctx/ca-certificates.crt") roots)"
}

case ${1:-} in
binaries) shift && cmd_binaries "$@" ;;
check) shift && cmd_check "$@" ;;
image) shift && cmd_image "$@" ;;
*)
	sed -n '2,9p' "${BASH_SOURCE[0]}" >&2
	exit 2
	;;
esac
