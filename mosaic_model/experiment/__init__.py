"""The paper experiment's tooling: the data bundle the device reads (``bundle``), the answer-prior and
chance baselines (``baselines``), the stages of one run (``runs``: geometry pretraining, training,
evaluation) and the results report (``report``). docs/experiment.md."""
