import datetime
import math
import statistics

d = datetime.datetime(2024, 2, 28, 23, 30, tzinfo=datetime.timezone.utc)
print(d.isoformat())
print((d + datetime.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M %A"))
print(datetime.date(2024, 12, 25) - datetime.date(2024, 1, 1))
print(datetime.datetime.fromisoformat("2023-06-01T12:00:00+02:00").astimezone(datetime.timezone.utc))
print(math.pi, math.e, math.sqrt(2), math.factorial(30), math.gcd(1071, 462))
print(math.isclose(math.sin(math.pi / 6), 0.5), math.log(1e6, 10), math.comb(52, 5))
data = [2.5, 3.1, 4.7, 1.2, 9.9, 3.3]
print(statistics.mean(data), statistics.median(data), round(statistics.stdev(data), 6))
print(2 ** 100, -(7 // 2), 7 % -3, divmod(-17, 5), 10 ** 30 // 7)
print(int("123456789" * 5) * 987654321)
