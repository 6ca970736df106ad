# Source this file to build the cuda-tagged gpu package with CUDA 11.8 to 13:
#   source scripts/gpu/env.sh && go test -tags cuda ./gpu/...
# It puts the CUDA 13 compatibility headers of gpu/cudacompat first on the include path and
# points cgo at $CUDA_HOME (default /usr/local/cuda; Debian's packaged CUDA is on the default
# paths, where a missing $CUDA_HOME changes nothing).
_wtacrs_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_wtacrs_cuda=${CUDA_HOME:-/usr/local/cuda}
export CGO_ENABLED=1
export CGO_CFLAGS="-I$_wtacrs_root/gpu/cudacompat -I$_wtacrs_cuda/include ${CGO_CFLAGS:-}"
export CGO_LDFLAGS="-L$_wtacrs_cuda/lib64/stubs -L$_wtacrs_cuda/lib64 ${CGO_LDFLAGS:-}"
export LD_LIBRARY_PATH="$_wtacrs_cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$_wtacrs_cuda/bin:$PATH"
unset _wtacrs_root _wtacrs_cuda
