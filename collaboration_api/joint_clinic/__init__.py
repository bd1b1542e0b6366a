"""Remote joint outpatient clinic: community doctor, specialist and patient together."""
