#!/usr/bin/env bash
# install-test-deps.sh — make sure the Debian packages kiln's tests use are installed.
#
# The end-to-end tests run real tools: the CNCF distribution registry, skopeo and umoci
# (readers of kiln's output), buildah and Docker's engine with BuildKit (oracle builders),
# busybox-static and debootstrap (base images made locally), openssl and htpasswd (TLS
# and auth for the test registry).
#
# As root: installs whatever is missing with apt-get (no recommends), running
# `apt-get update` only when the package lists are missing or older than a day, and
# waiting up to 600 s for the dpkg lock. Services that packages would start on install
# (docker.io's dockerd) are kept from starting: the tests start their own private engine.
# Not root: prints the missing packages and the command to install them, exits 1.
# When everything is present it only runs one dpkg-query (well under a second).
set -euo pipefail

PKGS=(
  docker-registry # CNCF distribution registry: /usr/bin/docker-registry
  skopeo          # copy/inspect images: registries, OCI layouts, docker archives
  umoci           # unpack/repack OCI layouts (rootfs + config) keeping owners
  buildah         # oracle builder: buildah build --isolation chroot
  busybox-static  # the busybox base image's only binary
  debootstrap     # the Debian minbase base image
  bubblewrap      # user-namespace sandbox for RUN
  uidmap          # newuidmap/newgidmap for rootless runs
  crun runc       # OCI runtimes (runc is also dockerd's)
  apache2-utils   # htpasswd -B (distribution only accepts bcrypt)
  openssl         # test CA and server certificate
  jq curl ca-certificates git xz-utils bzip2 zstd
  libcap2-bin     # setcap/getcap: file capabilities (xattrs) through snapshots
  openssh-client  # ssh-agent, ssh-add, ssh-keygen: RUN --mount=type=ssh
  docker.io       # dockerd 20.10 with BuildKit: the second oracle
)

# One dpkg-query for all packages; a package never seen by dpkg is reported on stderr.
missing=()
declare -A installed=()
while read -r name status; do
  [[ $status == "install ok installed" ]] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null || true)
for p in "${PKGS[@]}"; do
  [[ -n ${installed[$p]:-} ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-test-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

if [[ $(id -u) != 0 ]]; then
  echo "install-test-deps: missing Debian packages: ${missing[*]}" >&2
  echo "install them with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -q -o DPkg::Lock::Timeout=600)

lists_fresh() {
  [[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -newermt '-1 day' 2>/dev/null | head -n1) ]]
}

# Keep package scripts from starting services (dockerd, containerd) during the install:
# policy-rc.d exit code 101 means "action forbidden". Only a file we created is removed.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\n# written by kiln scripts/install-test-deps.sh for the duration of an install\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

echo "install-test-deps: installing ${missing[*]}"
lists_fresh || "${APT[@]}" update
if ! "${APT[@]}" install -y --no-install-recommends "${missing[@]}"; then
  # Lists fresher than a day can still name versions a mirror has dropped: refresh once.
  "${APT[@]}" update
  "${APT[@]}" install -y --no-install-recommends "${missing[@]}"
fi
echo "install-test-deps: done"
