"""What every setting must be (RULES) and the checks of settings that only make sense together."""

# kinds.py: the kinds of rule; rules.py: the table and check_values; together.py: the cross-setting checks.
# Names with a leading underscore are shared only inside this package; these are its public ones.
from config.checks.kinds import client_parts, names_in
from config.checks.rules import RULES, check_values

__all__ = ["RULES", "check_values", "client_parts", "names_in"]
