"""The image operations of the upload preprocessing, in numpy alone.

``serving_core.preprocessing`` needs a Gaussian blur, Otsu's threshold, connected components, a
skeleton, a dilation and spline resizing. scikit-image and SciPy have them, but together with their
libraries they are a third of the serving image. These modules compute the same results as the
scikit-image calls the preprocessing made (each module names the call it reproduces; the tests compare
them with scikit-image on many inputs), so the serving set needs neither.
"""
