"""Why backends differ, flip by flip.

- `probabilities`: P(label) at the token that decides it, and the margin between the top two (near-ties);
- `numerics`: where two backends fed identical prompt ids part in their per-token logprobs;
- `attribution`: each flip's cause (render, sampling, server, unexplained) from its evidence;
- `replay`: generations from a backend's exact prompt ids on a local reference model, stored like answers;
- `run`: `explain_run(RUN)`, the whole step on a run folder (`harness explain`).
"""
