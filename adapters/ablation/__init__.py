"""``opsgraft ablate``: annotated training code in, a finished ablation study out.

The tool owns what is mechanical (the trial loop, seeds, the results file, plots, resume);
the model is asked only to repair a variant whose mechanical removal of a component does not run.
"""
