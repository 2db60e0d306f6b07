"""German dates with the month's name ("6. Dez. 2026, 01:15"; "N" gives the
German abbreviations: "März", "Mai", "Sept.", "Dez."), the same shape as the
English ones. What this module leaves out comes from Django's German formats."""

DATE_FORMAT = "j. N Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j. N Y, H:i"
SHORT_DATE_FORMAT = "j. N Y"
SHORT_DATETIME_FORMAT = "j. N Y, H:i"
MONTH_DAY_FORMAT = "j. N"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1  # Monday
