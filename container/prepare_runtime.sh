#!/bin/sh
# Ready a build stage's venv and bundled model for the runtime image: what serving never reads goes.
#   prepare_runtime.sh VENV MODEL_DIR
# - pip, setuptools and wheel (nothing is installed at run time);
# - the packages' own test suites (`tests` folders: never imported by the packages themselves;
#   byte_compile_serving.py, run next, imports the whole serving path and fails if one was needed);
# - onnxruntime's C API library: the Python module is linked with its own copy and never loads it;
# - C/C++ headers (TensorFlow's `include` is hundreds of MB; numpy's is for building extensions);
# - the static symbol tables of TensorFlow's own libraries, when `strip` is there (TensorFlow's wheel is
#   built as it is, not repaired by auditwheel/patchelf, so stripping is safe; the dynamic symbols stay);
# - all but the newest version of the bundled model (the default the image serves).
# It then points the venv at the code in /app (a .pth file: the code keeps its checkout layout, templates
# and static files beside the packages, as the app expects).
set -eu
venv=$1
model_dir=$2
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')

"$venv/bin/python" -m pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null || true
rm -f "$venv"/bin/pip*
find "$site" -depth -type d -name tests -prune -exec rm -r {} +
rm -f "$site"/onnxruntime/capi/libonnxruntime.so.*
rm -rf "$site"/tensorflow/include "$site"/numpy/_core/include
if test -d "$site/tensorflow" && command -v strip >/dev/null; then
    find "$site/tensorflow" -name '*.so*' -type f -exec strip --strip-unneeded {} +
fi
echo /app > "$site/emnist-serving.pth"

newest=$(ls "$model_dir" | grep -E '^[0-9]+$' | sort -n | tail -n 1)
for version in $(ls "$model_dir" | grep -E '^[0-9]+$'); do
    test "$version" = "$newest" || rm -r "${model_dir:?}/$version"
done
