"""`python -m bench` (`make bench`): the runbooks' speed, cost and scale, each figure measured in one run.

P1 cold start of every Lambda handler module against the boto3 floor; P2 CloudWatch read calls per health sweep;
P3 sequential Lambda hops before the first write; P4 state transitions, Lambda invocations and the monthly cost;
P5 an alarm storm; P6 a 200-service configuration against CloudFormation's limits; P7 the scenario suite's wall
time. Prints a table and writes bench-report.json (figures, targets, prices and assumptions).
"""

import simulator  # noqa: F401 - puts functions/ (the handlers' package, `remediation`) on the import path
