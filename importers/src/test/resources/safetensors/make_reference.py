"""Reference data for the safetensors reader/writer tests, computed with numpy and exact rational arithmetic
(a second implementation, independent of the Java code). Re-run from this folder:  python3 make_reference.py

- fixture_stats.json: for every tensor of the shared fixtures' hf/*/{model,golden}.safetensors
  (test-fixtures/src/main/resources/hf): dtype, shape, float64 sum of the
  float32 values, first 4 and last value (numpy decodes F16 natively; BF16 as uint16 << 16 viewed as float32).
- half_reference.safetensors (written byte by byte here, no safetensors package needed):
    f16_all               F16 [65536]  every binary16 bit pattern 0..65535
    f16_all_as_f32_bits   I32 [65536]  numpy float16 -> float32, as raw bits
    f32_samples_bits      I32 [N]      float32 inputs (random bit patterns + edge cases; no NaN)
    f32_samples_f16_bits  I32 [N]      numpy astype(float16) (round to nearest even), raw bits
    f32_samples_bf16_bits I32 [N]      nearest bfloat16, ties to even, found with fractions.Fraction
"""
import json, struct
from fractions import Fraction
from pathlib import Path
import numpy as np

HERE = Path(__file__).resolve().parent
np.random.seed(1234)


def read_st(path):
    b = Path(path).read_bytes()
    n = struct.unpack('<Q', b[:8])[0]
    header = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        s, t = e['data_offsets']
        raw = data[s:t]
        dt = e['dtype']
        if dt == 'F16':
            a = np.frombuffer(raw, '<f2').astype(np.float32)
        elif dt == 'BF16':
            a = (np.frombuffer(raw, '<u2').astype(np.uint32) << 16).view(np.float32)
        elif dt == 'F32':
            a = np.frombuffer(raw, '<f4')
        elif dt == 'I64':
            a = np.frombuffer(raw, '<i8').astype(np.float32)
        else:
            raise SystemExit('unexpected dtype ' + dt)
        out[name] = (dt, e['shape'], a.astype(np.float32))
    return out


# the hf/ fixtures live once, in the test-fixtures module
FIXTURES = HERE.parents[4] / 'test-fixtures' / 'src' / 'main' / 'resources'
stats = {}
for model in ['llava', 'llava_next', 'qwen2_5_vl']:
    for f in ['model', 'golden']:
        rel = f'hf/{model}/{f}.safetensors'
        entries = {}
        for name, (dt, shape, a) in read_st(FIXTURES / rel).items():
            entries[name] = {'dtype': dt, 'shape': shape, 'sum': float(a.astype(np.float64).sum()),
                             'first': [float(x) for x in a[:4]], 'last': float(a[-1]) if a.size else None}
        stats[rel] = entries
(HERE / 'fixture_stats.json').write_text(json.dumps(stats, indent=1))


def nearest_bf16_bits(f32_bits):
    """Exact: compare |x - candidate| as Fractions for the two bf16 neighbours, ties to the even one."""
    x = np.array([f32_bits], np.uint32).view(np.float32)[0]
    if np.isinf(x):
        return (f32_bits >> 16) & 0xFFFF
    lo = (f32_bits >> 16) & 0xFFFF                      # truncation: the neighbour towards zero
    hi = (lo + 1) & 0xFFFF                               # next bf16 away from zero (may be inf)
    def val(b):
        return np.array([b << 16], np.uint32).view(np.float32)[0]
    fx = Fraction(float(x))
    flo = Fraction(float(val(lo)))
    vhi = val(hi)
    if np.isinf(vhi):
        # IEEE overflow rule: round to inf when |x| >= max + half ulp (ulp at the top binade of bf16 = 2^120)
        fhi = Fraction(2) ** 128 * (1 if x > 0 else -1)
    else:
        fhi = Fraction(float(vhi))
    dlo, dhi = abs(fx - flo), abs(fhi - fx)
    if dlo < dhi or (dlo == dhi and lo % 2 == 0):
        return lo
    return hi


edge = []
for v in [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 65536.0, 1e10, -1e10, 3.4e38, -3.4e38,
          float('inf'), float('-inf'), 2**-24, 2**-25, 2**-25 * 1.0001, 2**-26, 2**-14, 2**-14 * 0.999,
          6.1e-5, 5.96e-8, 1e-45, 1.17549435e-38, 0.1, 1 / 3, 3.14159265, 1.00048828125, 1.0009765625 * 1.5]:
    edge.append(np.array([v], np.float32).view(np.uint32)[0])
# exact halfway points between neighbouring f16 values (ties) and between bf16 values
h = np.arange(0, 0x7C00, 37, dtype=np.uint16).view(np.float16).astype(np.float32)
ulp16 = np.spacing(np.arange(0, 0x7C00, 37, dtype=np.uint16).view(np.float16)).astype(np.float32)
ties16 = (h + ulp16 / np.float32(2)).astype(np.float32)
ties_bf = ((np.arange(0, 0x7F7F, 53, dtype=np.uint32) << 16) | 0x8000).astype(np.uint32)
rand = np.random.randint(0, 2**32, size=6000, dtype=np.uint64).astype(np.uint32)
small = np.random.uniform(-70000, 70000, 1500).astype(np.float32).view(np.uint32)
tiny = (np.random.uniform(-1, 1, 1500) * 2.0**-14).astype(np.float32).view(np.uint32)
samples = np.concatenate([np.array(edge, np.uint32), ties16.view(np.uint32), ties_bf,
                          (ties_bf | 0x80000000).astype(np.uint32), rand, small, tiny]).astype(np.uint32)
samples = samples[~np.isnan(samples.view(np.float32))]
with np.errstate(over='ignore'):
    f16 = samples.view(np.float32).astype(np.float16).view(np.uint16).astype(np.int32)
bf = np.array([nearest_bf16_bits(int(b)) for b in samples], np.int32)

all16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
tensors = [
    ('f16_all', 'F16', [65536], all16.tobytes()),
    ('f16_all_as_f32_bits', 'I32', [65536], all16.view(np.float16).astype(np.float32).view(np.int32).astype('<i4').tobytes()),
    ('f32_samples_bits', 'I32', [len(samples)], samples.view(np.int32).astype('<i4').tobytes()),
    ('f32_samples_f16_bits', 'I32', [len(samples)], f16.astype('<i4').tobytes()),
    ('f32_samples_bf16_bits', 'I32', [len(samples)], bf.astype('<i4').tobytes()),
]
header, data, off = {'__metadata__': {'generator': 'make_reference.py'}}, b'', 0
for name, dt, shape, raw in tensors:
    header[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [off, off + len(raw)]}
    data += raw
    off += len(raw)
hb = json.dumps(header).encode()
hb += b' ' * ((8 - len(hb) % 8) % 8)
(HERE / 'half_reference.safetensors').write_bytes(struct.pack('<Q', len(hb)) + hb + data)
print(len(samples), 'samples')
