"""English dates for a European audience: day, month's name, year and a
24-hour clock ("6 Dec 2026, 01:15"), never the American "12/06/2026 1:15 a.m."
that reads as June elsewhere. What this module leaves out comes from Django's
own English formats."""

DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1  # Monday
