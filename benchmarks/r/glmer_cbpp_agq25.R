# Warm timing of lme4 on cbpp: binomial logit with trials, herd random intercept, mode-curvature
# adaptive Gauss-Hermite quadrature with 25 nodes (glmer nAGQ = 25):
#   cbind(incidence, size - incidence) ~ period + (1 | herd)
# Stata: melogit incidence i.period || herd:, binomial(size) intmethod(mcaghermite) intpoints(25)
# Usage: Rscript glmer_cbpp_agq25.R <cbpp.csv> [n = 50]   (mejax/datasets/data/cbpp.csv)
# Prints one JSON line: peer, model, median_s (of n whole glmer() calls after 3 warm-up fits),
# min_s, cpu_median_s (median user + system CPU seconds of one fit), n, loglik, loglik_lme4,
# version.  lme4's logLik() for nAGQ > 1 omits the saturated binomial log likelihood; loglik adds
# it back (the full log likelihood, as Stata reports it); loglik_lme4 is lme4's number.
local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", f[1])), "lmer_common.R"))
})

csv <- arg(1)
n <- as.integer(arg(2, "50"))
cb <- read.csv(csv)
cb$herd <- factor(cb$herd)
cb$period <- factor(cb$period)

fit <- function() glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cb,
                        family = binomial, nAGQ = 25)
for (i in 1:3) m <- fit()
# Wall and CPU (user + system) seconds of each fit; CPU time is less sensitive to other load.
tc <- vapply(seq_len(n), function(i) {
  p0 <- proc.time(); w <- as.numeric(elapsed(fit())); p1 <- proc.time() - p0
  c(w, p1[["user.self"]] + p1[["sys.self"]])
}, numeric(2))
times <- tc[1, ]
sat <- sum(dbinom(cb$incidence, cb$size, cb$incidence / cb$size, log = TRUE))

emit(peer = "lme4", model = "cbpp_agq25", median_s = median(times), min_s = min(times),
     cpu_median_s = median(tc[2, ]), n = n,
     loglik = as.numeric(logLik(m)) + sat, loglik_lme4 = as.numeric(logLik(m)),
     version = lme4_version())
