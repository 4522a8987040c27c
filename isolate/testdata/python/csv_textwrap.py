import csv
import io
import textwrap

src = 'name,qty,price\nwidget,3,2.50\n"gadget, large",1,10.00\n'
rows = list(csv.DictReader(io.StringIO(src)))
print(rows)
print(sum(int(r["qty"]) * float(r["price"]) for r in rows))
out = io.StringIO()
w = csv.writer(out)
w.writerow(["a", "b,c", 'd"e'])
print(repr(out.getvalue()))
text = "warren runs Python in fresh isolates under the same limits as JavaScript, and starts each call from a snapshot."
print(textwrap.fill(text, width=30))
print(textwrap.dedent("""\
    indented
      more
    """), end="")
print(textwrap.shorten(text, 40))
