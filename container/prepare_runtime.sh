#!/bin/sh
# Ready a build stage's venv and bundled model for the runtime image: what serving never reads goes.
#   prepare_runtime.sh VENV MODEL_DIR
# - pip, setuptools and wheel (nothing is installed at run time);
# - the packages' own test suites (`tests` folders: never imported by the packages themselves;
#   byte_compile_serving.py, run next, imports the whole serving path and fails if one was needed);
# - onnxruntime's C API library: the Python module is linked with its own copy and never loads it;
# - onnxruntime's offline tools (`transformers`, `quantization`, `tools`: model optimisation and conversion
#   scripts, never imported by `import onnxruntime`); not numpy's `f2py`: numpy imports it on attribute
#   access, and libraries that copy numpy's namespace (SciPy's array API layer) touch every attribute;
# - C/C++ headers (TensorFlow's `include` is hundreds of MB; numpy's is for building extensions); not the
#   `.pyi` type stubs: lazy_loader (scikit-image) reads a package's imports from its `__init__.pyi`;
# - the static symbol tables of TensorFlow's own libraries (TensorFlow's wheel is built as it is, not
#   repaired by auditwheel/patchelf, so stripping is safe; the dynamic symbols stay);
# - the static symbol tables and debug sections of every other shared object, each kept only when the
#   stripped file still loads with every symbol bound (dlopen RTLD_NOW, in its own folder so that $ORIGIN
#   finds its libraries): `strip` after auditwheel's patchelf can produce a library the loader refuses, so
#   a stripped copy that does not load, or is no smaller, is thrown away and the original kept;
# - all but the newest version of the bundled model (the default the image serves).
# The stripping needs binutils (installed in the build stage only). It then points the venv at the code in
# /app (a .pth file: the code keeps its checkout layout, templates and static files beside the packages, as
# the app expects).
set -eu
venv=$1
model_dir=$2
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')

"$venv/bin/python" -m pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null || true
rm -f "$venv"/bin/pip*
find "$site" -depth -type d -name tests -prune -exec rm -r {} +
rm -f "$site"/onnxruntime/capi/libonnxruntime.so.*
rm -rf "$site"/onnxruntime/transformers "$site"/onnxruntime/quantization "$site"/onnxruntime/tools
rm -rf "$site"/tensorflow/include "$site"/numpy/_core/include

if test -d "$site/tensorflow"; then
    find "$site/tensorflow" -name '*.so*' -type f -exec strip --strip-unneeded {} +
fi
find "$site" -path "$site/tensorflow" -prune -o -name '*.so*' -type f -print | while read -r library; do
    stripped="$library.stripped"
    if strip --strip-unneeded -o "$stripped" "$library" 2>/dev/null \
        && test "$(wc -c < "$stripped")" -lt "$(wc -c < "$library")" \
        && "$venv/bin/python" -c 'import ctypes, os, sys; ctypes.CDLL(sys.argv[1], os.RTLD_NOW)' "$stripped" \
            2>/dev/null; then
        chmod --reference="$library" "$stripped"
        mv "$stripped" "$library"
    else
        rm -f "$stripped"
    fi
done
echo /app > "$site/emnist-serving.pth"

newest=$(ls "$model_dir" | grep -E '^[0-9]+$' | sort -n | tail -n 1)
for version in $(ls "$model_dir" | grep -E '^[0-9]+$'); do
    test "$version" = "$newest" || rm -r "${model_dir:?}/$version"
done
