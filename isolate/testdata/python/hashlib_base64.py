import base64
import hashlib
import hmac

data = b"The quick brown fox jumps over the lazy dog"
print(hashlib.sha256(data).hexdigest())
print(hashlib.md5(data).hexdigest())
print(hashlib.sha1(data).hexdigest())
print(hashlib.sha512(data).hexdigest()[:32])
print(hashlib.blake2b(data, digest_size=16).hexdigest())
print(hashlib.sha3_256(data).hexdigest())
print(hmac.new(b"key", data, "sha256").hexdigest())
print(base64.b64encode(data).decode())
print(base64.urlsafe_b64decode("aGVsbG8_d29ybGQ="))
print(base64.b32encode(b"warren"), base64.b16decode("776172"))
