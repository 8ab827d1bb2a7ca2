#!/usr/bin/env python3
"""Reference search for the demo's pretraining settings (PyTorch + transformers on a GPU; the Java demo does the real work).

The demo's model (Qwen2_5_VLForConditionalGeneration built from the demo's own config.json, with sizes changed per run),
trained from scratch on the demo's own data with the demo's loop (AdamW, warmup + cosine, global-norm clipping, token-mean
cross-entropy on the assistant replies), and scored on the held-out split by the first greedy token, per question type.
It only ranks settings: float reduction order makes no two runs (or the Java run) identical after a few hundred steps.

Usage: DEMO_DATA=demo-out/data DEMO_INIT=demo-out/init python tools/demo_search.py configs.json out_dir [parallel]
(DEMO_DATA_ALT=folder: the same scenes drawn another way, e.g. by a changed generator; a run picks it with "alt": true)
(DEMO_PACK=folder: the splits as train.json.gz / test.json + train.pal.gz / test.pal.gz, one palette byte per pixel, written
by tools/PackShapes.java from the generator's PNGs: 96,000 training images are 6 MB, within the device machine's 64 MiB; pixel
values are made on the GPU from the palette and checked against transformers' image processor on the held-out images;
"train_n": the first n training images only; "train_eval": n also scores every position pair of the first n training scenes;
"pos_only": each training conversation is its position question alone)
configs.json: {"name": {"batch": 32, "steps": 300, "lr": 2e-3, "layers": 2, "d": 256, "theta": 1000.0, ...}, ...}
(keys: see make_model and run_one; 'evals' lists the steps to score at). Each run writes out_dir/name.json."""
import sys, json, os, math, time, subprocess, random
DATA = os.environ.get('DEMO_DATA', 'demo-out/data')
INIT = os.environ.get('DEMO_INIT', 'demo-out/init')

def vocab():
    t = json.load(open(os.path.join(INIT, 'tokenizer.json')))
    return t['model']['vocab']

def encode_words(v, text):
    import re
    return [v.get(w, 8) for w in re.findall(r"\n|[a-z0-9]+|[^\sa-z0-9]", text.lower())]

def build(v, convs, prompt_only=False, mask_nl=False):
    ids, labels = [], []
    first = True
    for i in range(0, len(convs), 2):
        q = convs[i]['value'].replace('<image>\n', '').replace('<image>', '')
        seg = [1, 8, 9] + ([3] + [6] * 16 + [4] if first else []) + encode_words(v, q) + [2, 9]
        first = False
        ids += seg; labels += [-100] * len(seg)
        ids += [1, 8, 9]; labels += [-100] * 3
        if prompt_only:
            return ids
        a = encode_words(v, convs[i + 1]['value']) + [2]
        # mask_nl: also supervise the "\n" after <|im_end|>, as the Java LossMask does (the chat template's reply ends with it)
        ids += a + [9]; labels += a + ([9] if mask_nl else [-100])
    return ids, labels

def prepare(dev):
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor
    v = vocab()
    ip = AutoImageProcessor.from_pretrained(INIT)
    data = DATA
    def load(name):
        recs = json.load(open(os.path.join(data, name)))
        imgs = [Image.open(os.path.join(data, r['image'])).convert('RGB') for r in recs]
        px = []
        for k in range(0, len(imgs), 500):
            out = ip(images=imgs[k:k + 500], return_tensors='pt')
            px.append(out['pixel_values'].reshape(len(imgs[k:k + 500]), 64, -1))
            grid = out['image_grid_thw'][0]
        return recs, torch.cat(px).to(dev), grid
    train, tpx, grid = load('train.json')
    test, spx, _ = load('test.json')
    if os.environ.get('DEMO_DATA_ALT'):
        # the same scenes drawn another way (e.g. without jitter): only the pixels differ, picked per run by "alt": true
        data = os.environ['DEMO_DATA_ALT']
        _, tpx2, _ = load('train.json'); _, spx2, _ = load('test.json')
        return train, (tpx, tpx2), test, (spx, spx2), grid
    return train, tpx, test, spx, grid

PALETTE = [0x7B7568, 0x000000, 0xDC1E1E, 0x1EA032, 0x1E46DC, 0xEBC814, 0x8C32B4]

class PalettePixels:
    """Images kept as palette bytes [n, H, W]; indexing gives Qwen2.5-VL pixel_values [len, patches, C*2*14*14]."""
    def __init__(self, pal, mean, std):
        import torch
        self.pal = pal
        rgb = torch.tensor([[(c >> 16) & 255, (c >> 8) & 255, c & 255] for c in PALETTE], dtype=torch.float32) / 255
        self.table = (rgb - torch.tensor(mean)) / torch.tensor(std)
        n, h, w = pal.shape
        self.shape = (n, (h // 14) * (w // 14), 3 * 2 * 14 * 14)
    def to(self, dev):
        self.pal = self.pal.to(dev); self.table = self.table.to(dev); return self
    def __getitem__(self, idx):
        import torch
        x = self.table[self.pal[torch.as_tensor(idx, device=self.pal.device).long()].long()]   # [b, H, W, 3]
        b, h, w, c = x.shape
        x = x.permute(0, 3, 1, 2).unsqueeze(1).expand(b, 2, c, h, w)                      # the processor's two frames
        x = x.reshape(b, 2, c, h // 28, 2, 14, w // 28, 2, 14).permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
        return x.reshape(b, (h // 14) * (w // 14), c * 2 * 14 * 14)

def prepare_packed(root):
    import torch, gzip, numpy as np
    from PIL import Image
    from transformers import AutoImageProcessor
    ip = AutoImageProcessor.from_pretrained(INIT)
    train = json.load(gzip.open(os.path.join(root, 'train.json.gz')))
    test = json.load(open(os.path.join(root, 'test.json')))
    def pal(name, n):
        return torch.from_numpy(np.frombuffer(gzip.open(os.path.join(root, name)).read(), dtype=np.uint8).reshape(n, 112, 112).copy())
    tp, sp = PalettePixels(pal('train.pal.gz', len(train)), ip.image_mean, ip.image_std), PalettePixels(pal('test.pal.gz', len(test)), ip.image_mean, ip.image_std)
    rgb = (np.array([[(c >> 16) & 255, (c >> 8) & 255, c & 255] for c in PALETTE], dtype=np.uint8))
    imgs = [Image.fromarray(rgb[sp.pal[i].numpy()]) for i in range(len(test))]
    out = ip(images=imgs, return_tensors='pt')
    ref = out['pixel_values'].reshape(len(imgs), sp.shape[1], -1)
    diff = (ref - sp[list(range(len(test)))]).abs().max().item()
    print('palette pixels vs the image processor: max |diff|', diff, flush=True)
    if diff > 1e-4: raise SystemExit('palette pixels differ from the image processor')
    return train, tp, test, sp, out['image_grid_thw'][0]

def pos_question(rng, objs, aligned):
    pairs = [(a, b) for a in objs for b in objs if a is not b]
    if aligned:
        pairs = [(a, b) for a, b in pairs if a['row'] == b['row'] or a['col'] == b['col']]
    if not pairs: return None
    a, b = rng.choice(pairs)
    if a['row'] == b['row']: horiz = True
    elif a['col'] == b['col']: horiz = False
    else: horiz = rng.random() < 0.5
    return pos_text(a, b, horiz)

def pos_text(a, b, horiz):
    """The generator's question about a and b along one axis, and its answer."""
    if horiz:
        return ("Is the %s object left or right of the %s object?" % (a['color'], b['color']), 'left' if a['col'] < b['col'] else 'right')
    return ("Is the %s object above or below the %s object?" % (a['color'], b['color']), 'above' if a['row'] < b['row'] else 'below')

def mix(cfg, train, test):
    v = vocab(); rng = random.Random(7)
    aligned = cfg.get('pos_aligned', False); extra = cfg.get('pos_extra', 0)
    tr = []
    for r in train[:cfg.get('train_n', len(train))]:
        convs = []
        types = r['question_types']
        for i, t in enumerate(types):
            q, a = r['conversations'][2 * i]['value'], r['conversations'][2 * i + 1]['value']
            if t == 'position' and aligned:
                pq = pos_question(rng, r['objects'], True)
                if pq is None: continue
                q, a = pq
            convs += [{'value': q}, {'value': a}]
        for _ in range(extra):
            pq = pos_question(rng, r['objects'], aligned)
            if pq: convs += [{'value': pq[0]}, {'value': pq[1]}]
        if cfg.get('pos_only', False):
            # position questions alone, one per conversation (a diagnosis: can this model learn them at all?)
            k = [i for i, t in enumerate(types) if t == 'position']
            if not k: continue
            convs = convs[2 * k[0]:2 * k[0] + 2]
        if cfg.get('pos_first', False) and 'position' in types:
            # the held-out questions are all first turns: a position question always at turn 1 sees the text positions it is tested at
            k = types.index('position')
            convs = convs[2 * k:2 * k + 2] + convs[:2 * k] + convs[2 * k + 2:]
        tr.append(build(v, convs, mask_nl=cfg.get('mask_nl', False)))
    te = []
    for k, r in enumerate(test):
        t = r['question_type']; q = r['conversations'][0]['value'].replace('<image>\n', ''); a = r['conversations'][1]['value']
        if t == 'position':
            if aligned:
                pq = pos_question(rng, r['objects'], True)
                if pq is None: continue
                q, a = pq
            words = q.lower().replace('?', '').split()
            ca, cb = words[2], words[-2]
            oa = [o for o in r['objects'] if o['color'] == ca][0]; ob = [o for o in r['objects'] if o['color'] == cb][0]
            t = 'position_al' if (oa['row'] == ob['row'] or oa['col'] == ob['col']) else 'position_diag'
        te.append((k, build(v, [{'value': q}], True), encode_words(v, a)[0], t))
        if cfg.get('pos_all', True):
            # every ordered pair of the held-out scene: ~20x the 20 position questions of the held-out split, so
            # "learned" and "chance" are told apart (scored apart from 'overall')
            te += all_pairs(v, k, r)
    tt = []
    for k, r in enumerate(train[:cfg.get('train_eval', 0)]):
        # every ordered pair of a training scene: position learned on the training images (memorised) vs on held-out ones
        tt += all_pairs(v, k, r)
    return tr, te, tt

def all_pairs(v, k, r):
    """Position questions about every ordered pair of scene r (image k) along every axis their cells differ on."""
    out = []
    for oa in r['objects']:
        for ob in r['objects']:
            if oa is ob: continue
            for horiz, axis, kind in ((True, 'col', 'pall_h'), (False, 'row', 'pall_v')):
                if oa[axis] != ob[axis]:
                    q, a = pos_text(oa, ob, horiz)
                    out.append((k, build(v, [{'value': q}], True), encode_words(v, a)[0], kind))
    return out

class JavaRandom:
    """java.util.Random (48-bit LCG), so a run can visit the examples in the Java Pretrainer's order."""
    def __init__(self, seed):
        self.s = (seed ^ 0x5DEECE66D) & ((1 << 48) - 1)
    def next31(self):
        # next(31) of the JDK: always non-negative, so no sign handling is needed
        self.s = (self.s * 0x5DEECE66D + 0xB) & ((1 << 48) - 1)
        return self.s >> 17
    def next_int(self, bound):
        if bound & (bound - 1) == 0:
            return (bound * self.next31()) >> 31
        while True:
            bits = self.next31(); val = bits % bound
            if ((bits - val + bound - 1 + (1 << 31)) % (1 << 32)) - (1 << 31) >= 0: return val

def java_permutation(n, rng):
    """Pretrainer.permutation: Fisher-Yates over the identity, a new one every epoch."""
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.next_int(i + 1); p[i], p[j] = p[j], p[i]
    return p

def make_model(cfg, dev):
    import torch
    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration
    if 'load' in cfg:
        # a folder the Java side wrote (its initial weights, or its pretrained model): same weights, PyTorch's loop
        return Qwen2_5_VLForConditionalGeneration.from_pretrained(cfg['load'], dtype=torch.float32).to(dev)
    c = json.load(open(os.path.join(INIT, 'config.json')))
    d = cfg.get('d', 256); heads = cfg.get('heads', d // 32); kv = cfg.get('kv', heads // 2)
    c.update(hidden_size=d, intermediate_size=cfg.get('ff', 3 * d), num_hidden_layers=cfg.get('layers', 2),
             max_window_layers=cfg.get('layers', 2), num_attention_heads=heads, num_key_value_heads=kv,
             rope_theta=cfg.get('theta', 1000.0), initializer_range=cfg.get('init', 0.08))
    c['rope_scaling']['mrope_section'] = cfg.get('sec', [4, 6, 6])
    vd = cfg.get('vd', 64)
    c['vision_config'].update(hidden_size=vd, intermediate_size=cfg.get('vff', 2 * vd), num_heads=cfg.get('vheads', vd // 32), depth=cfg.get('vdepth', 1),
                              out_hidden_size=d, fullatt_block_indexes=[cfg.get('vdepth', 1) - 1], initializer_range=cfg.get('init', 0.08))
    import tempfile
    tmp = tempfile.mkdtemp()
    json.dump(c, open(os.path.join(tmp, 'config.json'), 'w'))
    conf = AutoConfig.from_pretrained(tmp)
    torch.manual_seed(cfg.get('seed', 0))
    m = Qwen2_5_VLForConditionalGeneration._from_config(conf, dtype=torch.float32).to(dev)
    return m

def collate(torch, seqs, dev, labels=None):
    L = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    att = torch.zeros(len(seqs), L, dtype=torch.long)
    lab = torch.full((len(seqs), L), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s); att[i, :len(s)] = 1
        if labels is not None: lab[i, :len(s)] = torch.tensor(labels[i])
    return ids.to(dev), att.to(dev), lab.to(dev)

def evaluate(torch, m, te, spx, grid, dev):
    m.eval(); correct = {}; total = {}
    with torch.no_grad():
        for k in range(0, len(te), 125):
            chunk = te[k:k + 125]
            ids, att, _ = collate(torch, [c[1] for c in chunk], dev)
            px = spx[[c[0] for c in chunk]].reshape(-1, spx.shape[-1])
            g = grid.reshape(1, 3).repeat(len(chunk), 1).to(dev)
            out = m(input_ids=ids, attention_mask=att, pixel_values=px, image_grid_thw=g, mm_token_type_ids=(ids == 6).long()).logits
            last = att.sum(1) - 1
            pred = out[torch.arange(len(chunk)), last].argmax(-1).tolist()
            for (p, (_, _, ans, t)) in zip(pred, chunk):
                total[t] = total.get(t, 0) + 1; correct[t] = correct.get(t, 0) + (p == ans)
    m.train()
    acc = {t: correct[t] / total[t] for t in total}
    held = [t for t in total if not t.startswith('pall')]
    if not held: return acc
    acc['overall'] = sum(correct[t] for t in held) / sum(total[t] for t in held)
    pos = [t for t in total if t.startswith('position')]
    acc['position'] = sum(correct[t] for t in pos) / sum(total[t] for t in pos)
    acc['n_pos_al'] = total.get('position_al', 0)
    return acc

def run_one(cfg, out_path):
    import torch
    torch.set_num_threads(int(os.environ.get('THREADS', '2')))
    dev = 'cuda'
    train, tpx, test, spx, grid = torch.load(os.environ['PREP'], weights_only=False)
    if isinstance(tpx, tuple):
        k = 1 if cfg.get('alt', False) else 0
        tpx, spx = tpx[k], spx[k]
    tr, te, tt = mix(cfg, train, test)
    tpx, spx = tpx.to(dev), spx.to(dev)
    m = make_model(cfg, dev)
    steps = cfg.get('steps', 600); B = cfg.get('batch', 16); lr = cfg.get('lr', 2e-3); minlr = cfg.get('minlr', 1e-4)
    warm = max(1, round(steps * cfg.get('warmup', 0.05)))
    decay = [p for n, p in m.named_parameters() if p.dim() >= 2]
    nodecay = [p for n, p in m.named_parameters() if p.dim() < 2]
    wd = cfg.get('wd', 0.01)
    groups = [{'params': decay, 'weight_decay': wd}, {'params': nodecay, 'weight_decay': wd if cfg.get('wd_all', True) else 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, cfg.get('beta2', 0.95)), eps=1e-8)
    rng = random.Random(cfg.get('seed', 0))
    order = list(range(len(tr))); rng.shuffle(order); nxt = 0
    jr = JavaRandom(cfg['java_order']) if 'java_order' in cfg else None
    if jr: order = java_permutation(len(tr), jr)
    evals = set(cfg.get('evals', [steps // 2, steps]))
    log = {'cfg': cfg, 'evals': {}, 'loss': []}
    t0 = time.time()
    if steps == 0:
        log['evals'][0] = evaluate(torch, m, te, spx, grid, dev)
    for step in range(steps):
        if step < warm: cur = lr * (step + 1) / warm
        else:
            pr = (step - warm) / max(1, steps - warm)
            cur = minlr + 0.5 * (lr - minlr) * (1 + math.cos(math.pi * pr))
        for g in opt.param_groups: g['lr'] = cur
        idx = []
        if step < cfg.get('curr', 0):
            # curriculum: the first 'curr' updates see only scenes of at most 'curr_items' objects (fewer distractors)
            small = [i for i in range(len(tr)) if len(train[i]['objects']) <= cfg.get('curr_items', 2)]
            idx = [small[rng.randrange(len(small))] for _ in range(B)]
        for _ in range(B - len(idx)):
            if nxt == len(order):
                if jr: order = java_permutation(len(tr), jr)
                else: rng.shuffle(order)
                nxt = 0
            idx.append(order[nxt]); nxt += 1
        ids, att, lab = collate(torch, [tr[i][0] for i in idx], dev, [tr[i][1] for i in idx])
        px = tpx[idx].reshape(-1, tpx.shape[-1])
        g3 = grid.reshape(1, 3).repeat(B, 1).to(dev)
        logits = m(input_ids=ids, attention_mask=att, pixel_values=px, image_grid_thw=g3, mm_token_type_ids=(ids == 6).long()).logits
        tgt = torch.full_like(lab, -100); tgt[:, :-1] = lab[:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True); loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(m.parameters(), cfg.get('clip', 1.0))
        opt.step()
        if (step + 1) % 25 == 0 or step < cfg.get('log_first', 0):
            log['loss'].append(round(loss.item(), 4))
            log.setdefault('tokens', []).append(int(att.sum().item())); log.setdefault('gnorm', []).append(round(gn.item(), 4))
        if step + 1 in evals:
            log['evals'][step + 1] = evaluate(torch, m, te, spx, grid, dev)
            if tt: log['evals'][step + 1]['train'] = evaluate(torch, m, tt, tpx, grid, dev)
            log['seconds'] = time.time() - t0
            json.dump(log, open(out_path, 'w'))
            print(step + 1, log['evals'][step + 1], flush=True)
        if (step + 1) % 100 == 0: print('step', step + 1, round(loss.item(), 4), round(time.time() - t0, 1), flush=True)
    log['seconds'] = time.time() - t0
    json.dump(log, open(out_path, 'w'))

if __name__ == '__main__':
    if sys.argv[1] == '--one':
        run_one(json.loads(sys.argv[2]), sys.argv[3]); sys.exit(0)
    cfgs = json.load(open(sys.argv[1])); out = sys.argv[2]; par = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    os.makedirs(out, exist_ok=True)
    import torch
    prep = '/tmp/prep.pt'
    t0 = time.time()
    tr, tpx, te, spx, grid = prepare_packed(os.environ['DEMO_PACK']) if os.environ.get('DEMO_PACK') else prepare('cpu')
    torch.save((tr, tpx, te, spx, grid), prep)
    os.environ['PREP'] = prep
    print('prepared in', round(time.time() - t0, 1), 's', flush=True)
    procs = []; pending = list(cfgs.items())
    while pending or procs:
        while pending and len(procs) < par:
            name, c = pending.pop(0)
            f = open(os.path.join(out, name + '.log'), 'w')
            procs.append((name, subprocess.Popen([sys.executable, __file__, '--one', json.dumps(c), os.path.join(out, name + '.json')], stdout=f, stderr=subprocess.STDOUT)))
        time.sleep(2)
        for p in list(procs):
            if p[1].poll() is not None:
                procs.remove(p)
                try:
                    r = json.load(open(os.path.join(out, p[0] + '.json')))
                    rnd = lambda v: {t: rnd(a) for t, a in v.items()} if isinstance(v, dict) else round(v, 2)
                    print(p[0], round(r['seconds']), rnd(r['evals']), flush=True)
                except Exception as e:
                    print(p[0], 'FAILED rc', p[1].returncode, flush=True)
