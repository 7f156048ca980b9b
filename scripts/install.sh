#!/bin/sh
# Installs a prebuilt slx release binary, in one line:
#
#   curl -fsSL https://github.com/slx-rs/slx/releases/latest/download/install.sh | sh
#
# Picks the archive for this machine (static Linux binaries for x86_64 and
# aarch64; macOS when the release has one), checks it against the SHA-256
# sums this script carries (written in by scripts/release: not a file
# fetched from where the archive comes) before anything is written, and
# downloads over https only, redirects included. It puts `slx` in
# ~/.local/bin (or $SLX_INSTALL_DIR). Nothing else is touched: no sudo, no
# shell profile edits (it prints the PATH line when one is needed).
#
# scripts/release writes the released copy with its version and repository
# filled in. Settings (environment):
#   SLX_VERSION       another released version (default: this release's)
#   SLX_INSTALL_DIR   where the binary goes (default: ~/.local/bin)
#   SLX_DOWNLOAD_URL  where the archives are (a mirror, https://; or http
#                     on this machine: 127.0.0.1, localhost, [::1];
#                     default: the repository's release page for SLX_VERSION)
#   SLX_TARGET        the target triple to fetch (default: detected)
# `sh install.sh --dry-run` prints what it would download, and exits.
#
# POSIX sh on purpose: `| sh` is dash on Debian and Ubuntu. Everything
# runs from `main`, called on the last line: a download cut short runs
# nothing.
set -eu

released="@VERSION@"
repository="@REPOSITORY@"

# This release's SHA-256 sums (SHA256SUMS), written in by scripts/release.
release_sums() {
  cat <<'SUMS'
@SUMS@
SUMS
}

fail() {
  echo "slx install: $1" >&2
  exit 1
}

detect_target() {
  os=$(uname -s)
  arch=$(uname -m)
  case "$arch" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) fail "no slx release for a $arch processor; build it from source: cargo install slx" ;;
  esac
  case "$os" in
    # Static musl binaries: they run on any Linux, whatever its glibc.
    Linux) echo "$arch-unknown-linux-musl" ;;
    Darwin) echo "$arch-apple-darwin" ;;
    *) fail "no slx release for $os; build it from source: cargo install slx" ;;
  esac
}

# Fetches $1 into $2: over https only, redirects included, unless $1 is
# on this machine.
download() {
  case "$1" in
    https://*) curl_protocols='=https' wget_https=--https-only ;;
    http://127.0.0.1[:/]* | http://localhost[:/]* | http://\[::1\][:/]*) curl_protocols='=http' wget_https= ;;
    *) fail "refusing to download $1: only https:// (or http:// on this machine) is used" ;;
  esac
  if command -v curl >/dev/null 2>&1; then
    curl --proto "$curl_protocols" --proto-redir '=https' -fsSL --retry 3 -o "$2" "$1" \
      || fail "could not download $1 (check the version and your network)"
  elif command -v wget >/dev/null 2>&1; then
    wget -q $wget_https -O "$2" "$1" || fail "could not download $1 (check the version and your network)"
  else
    fail "neither curl nor wget is installed: install one of them"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    fail "neither sha256sum nor shasum is installed: cannot check the download, so nothing was installed"
  fi
}

main() {
  version="${SLX_VERSION:-$released}"
  case "$version" in
    @*) fail "this is the unreleased copy of install.sh: set SLX_VERSION (e.g. SLX_VERSION=0.2.0) or use the install.sh attached to a release" ;;
  esac
  case "$repository" in
    @*) repository="" ;;
  esac

  target="${SLX_TARGET:-$(detect_target)}"
  case "$target" in
    x86_64-unknown-linux-musl | aarch64-unknown-linux-musl | x86_64-apple-darwin | aarch64-apple-darwin) ;;
    *) fail "no slx release for $target; build it from source: cargo install slx" ;;
  esac

  # The names cargo-binstall's metadata in Cargo.toml expands to.
  folder="slx-$target-v$version"
  archive="$folder.tar.gz"
  if [ -n "${SLX_DOWNLOAD_URL:-}" ]; then
    base="${SLX_DOWNLOAD_URL%/}"
  elif [ -n "$repository" ]; then
    base="$repository/releases/download/v$version"
  else
    fail "no repository is recorded in this install.sh: set SLX_DOWNLOAD_URL"
  fi
  install_dir="${SLX_INSTALL_DIR:-${HOME:?HOME is not set}/.local/bin}"

  # The sums this script carries check its own version; another one's
  # come from its release page (and say so).
  embedded=no
  if [ "$version" = "$released" ] && ! release_sums | grep -q '^@SUMS@$'; then
    embedded=yes
  fi

  if [ "${1:-}" = "--dry-run" ]; then
    echo "$base/$archive"
    if [ "$embedded" = yes ]; then
      echo "SHA256SUMS: carried by this script"
    else
      echo "$base/SHA256SUMS"
    fi
    echo "$install_dir/slx"
    exit 0
  fi

  work=$(mktemp -d 2>/dev/null || mktemp -d -t slx-install)
  trap 'rm -rf "$work"' EXIT
  # A trapped signal would otherwise let the script carry on: stop there.
  trap 'exit 130' INT
  trap 'exit 143' TERM

  echo "downloading $base/$archive"
  download "$base/$archive" "$work/$archive"
  if [ "$embedded" = yes ]; then
    release_sums > "$work/SHA256SUMS"
  else
    echo "checking against $base/SHA256SUMS (this script carries the sums of slx $released only)"
    download "$base/SHA256SUMS" "$work/SHA256SUMS"
  fi

  expected=$(awk -v name="$archive" '$2 == name || $2 == "*" name { print $1 }' "$work/SHA256SUMS")
  [ -n "$expected" ] || fail "SHA256SUMS lists no $archive: nothing was installed"
  actual=$(sha256_of "$work/$archive")
  [ "$expected" = "$actual" ] \
    || fail "checksum mismatch for $archive (expected $expected, got $actual): nothing was installed"

  tar -xzf "$work/$archive" -C "$work" || fail "$archive is not a readable archive: nothing was installed"
  [ -f "$work/$folder/slx" ] || fail "$archive holds no $folder/slx: nothing was installed"

  mkdir -p "$install_dir" || fail "cannot create $install_dir: set SLX_INSTALL_DIR to a folder you can write"
  # Copy beside the old binary, then rename: a running slx, or an install
  # killed half way, never sees a partial file.
  cp "$work/$folder/slx" "$install_dir/.slx.new" \
    || fail "cannot write to $install_dir: set SLX_INSTALL_DIR to a folder you can write"
  chmod 755 "$install_dir/.slx.new"
  mv -f "$install_dir/.slx.new" "$install_dir/slx"

  said=$("$install_dir/slx" --version 2>&1) \
    || fail "installed $install_dir/slx, but it does not run here ($said): report it with the output of uname -a"
  echo "installed $said to $install_dir/slx"
  case ":${PATH:-}:" in
    *":$install_dir:"*) ;;
    *) echo "$install_dir is not on your PATH; add it: export PATH=\"$install_dir:\$PATH\"" ;;
  esac
  echo "next: slx doctor (checks the toolchain and AWS access), then slx init NAME"
}

main "$@"
