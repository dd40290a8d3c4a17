"""Bootstrapping an air-gapped site's first time, pure: the evidence items, the decision over them
(an interval intersection checked against every bound, or a refusal naming the conflict), and
whether a starting node may trust its clock."""
