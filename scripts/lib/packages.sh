# Debian packages the tests need beyond Rust, Python 3 and Node: installed once, when missing.
#
#   ensure_packages   installs what is missing (as root), or says what to install

# Command or file to look for, and the package that provides it.
orrery_packages=(
  "redis-server:redis-server"
  "/usr/lib/x86_64-linux-gnu/libvulkan.so.1:libvulkan1"
  "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json:mesa-vulkan-drivers"
  "/usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0:libegl-mesa0"
  "chromium:chromium"
)

ensure_packages() {
  local missing=() entry probe package
  for entry in "${orrery_packages[@]}"; do
    probe=${entry%%:*}; package=${entry##*:}
    if [[ $probe == /* ]]; then [[ -e $probe ]] && continue; else command -v "$probe" >/dev/null && continue; fi
    missing+=("$package")
  done
  [[ ${#missing[@]} == 0 ]] && return 0
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing packages (install them): ${missing[*]}" >&2
    return 1
  fi
  echo "installing ${missing[*]} from Debian's packages" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}
