"""``opsgraft bench``: the Pass@k benchmark grid (config, run directory and records, runner) and its report.

The run directory and record format are described in records.py; the report half reads them.
"""
