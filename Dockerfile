# flowpg's container image: the static binary, the public CA roots, and a
# non-root user, on an empty base. Nothing is pulled: `FROM scratch` is not an
# image but the empty file system.
#
# Build it with `make image`, which stages this directory's inputs (the binary
# built by scripts/release.sh, the host's /etc/ssl/certs/ca-certificates.crt,
# passwd and group) in a temporary context; `docker build .` here has none.
FROM scratch
COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY flowpg /usr/local/bin/flowpg
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/flowpg"]
CMD ["--help"]
