"""The image operations of the upload preprocessing, in numpy alone.

``serving_core.preprocessing`` needs a Gaussian blur, Otsu's threshold, connected components, a
skeleton, a dilation and spline resizing. scikit-image and SciPy have them, but with their libraries
they are much of the serving image (docs/containers.md). These modules compute the same results as the
scikit-image calls the preprocessing made (each module names the call it reproduces; the tests compare
them with scikit-image on many inputs), so the serving set needs neither.
"""
