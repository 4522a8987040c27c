# A module of the script next to it: imported by name.
def table(rows):
    width = max(len(k) for k in rows)
    return "\n".join(f"{k:<{width}}  {v:g}" for k, v in rows.items())
