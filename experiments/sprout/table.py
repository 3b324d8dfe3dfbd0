"""Summarises experiments/sprout/reproduce.sh runs against the artifact's
results (standard library only). Usage: table.py OUT_DIR DATA_DIR N_SEEDS [N_SEEDS_OURS]"""
import json
import statistics as st
import sys

out, data, nseeds = sys.argv[1], sys.argv[2], int(sys.argv[3])
nseeds_ours = int(sys.argv[4]) if len(sys.argv) > 4 else nseeds
regions = ["GB", "US-CAL", "US-TEX"]


def artifact(region, policy):
    d = json.load(open(f"{data}/results/{region}/{policy}.json"))
    b = json.load(open(f"{data}/results/{region}/baseline.json"))
    red = 100 * (1 - sum(d["carbon_per_req"]) / sum(b["carbon_per_req"]))
    return red, st.mean(d["quality_preference"])


def ours(region, policy):
    n = nseeds_ours if policy == "ours" else nseeds
    rows = [json.load(open(f"{out}/{region}_{policy}_s{s}.json")) for s in range(n)]
    red = [r["reduction_pct"] for r in rows]
    q = [r["quality_preference"] for r in rows]
    return rows, red, q


def sd(v):
    return st.stdev(v) if len(v) > 1 else 0.0


print("| region | policy | artifact reduction % | ecoinfer: mean ± sd (seed 0) | diff pp | "
      "artifact quality | ecoinfer: mean (seed 0) | diff |")
print("|---|---|---|---|---|---|---|---|")
for region in regions:
    for policy in ["baseline", "static", "lp", "co2opt", "oracle"]:
        ar, aq = artifact(region, policy)
        _, red, q = ours(region, policy)
        print(f"| {region} | {policy} | {ar:.2f} | {st.mean(red):.2f} ± {sd(red):.2f} ({red[0]:.2f}) | "
              f"{st.mean(red) - ar:+.2f} | {aq:.4f} | {st.mean(q):.4f} ({q[0]:.4f}) | "
              f"{st.mean(q) - aq:+.4f} |")
print()
print("| region | ours reduction % (k-fold mean, sd across folds, seed 0) | ours quality | "
      "lp on the same held-out prompts: reduction % | lp quality | gain pp |")
print("|---|---|---|---|---|---|")
for region in regions:
    rows, red, q = ours(region, "ours")
    lp_red = [st.mean(f["lp_reduction_pct"] for f in r["folds"]) for r in rows]
    lp_q = [st.mean(f["lp_quality_preference"] for f in r["folds"]) for r in rows]
    r0 = rows[0]
    print(f"| {region} | {st.mean(red):.2f} (fold sd {r0['reduction_sd']:.2f}; seeds sd {sd(red):.2f}) | "
          f"{st.mean(q):.4f} (fold sd {r0['quality_sd']:.4f}) | {st.mean(lp_red):.2f} ± {sd(lp_red):.2f} | "
          f"{st.mean(lp_q):.4f} | {st.mean(red) - st.mean(lp_red):+.2f} |")
