"""``opsgraft ui``: a local web page over the library (Parameters, Adapt, Runs); see app.create_app."""
