# Warm timing of lme4 on the Bangladesh contraception data: Bernoulli logit with a correlated
# random intercept and urban slope by district, Laplace (glmer defaults, nAGQ = 1):
#   c_use ~ urban + age + child1 + child2 + child3 + (1 + urban | district)
# Stata: melogit c_use urban age child1 child2 child3 || district: urban, covariance(unstructured)
#        intmethod(laplace)
# Usage: Rscript glmer_contraception.R <contraception.csv> [n = 20]
#   (tests/reference/data/contraception.csv)
# Prints one JSON line: peer, model, median_s (of n whole glmer() calls after 2 warm-up fits),
# min_s, cpu_median_s (median user + system CPU seconds of one fit), n, loglik, version.
local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", f[1])), "lmer_common.R"))
})

csv <- arg(1)
n <- as.integer(arg(2, "20"))
ct <- read.csv(csv)
ct$district <- factor(ct$district)

fit <- function() glmer(c_use ~ urban + age + child1 + child2 + child3 + (1 + urban | district),
                        ct, family = binomial)
for (i in 1:2) m <- fit()
# Wall and CPU (user + system) seconds of each fit; CPU time is less sensitive to other load.
tc <- vapply(seq_len(n), function(i) {
  p0 <- proc.time(); w <- as.numeric(elapsed(fit())); p1 <- proc.time() - p0
  c(w, p1[["user.self"]] + p1[["sys.self"]])
}, numeric(2))
times <- tc[1, ]

emit(peer = "lme4", model = "contraception_slope_laplace", median_s = median(times),
     min_s = min(times), cpu_median_s = median(tc[2, ]), n = n, loglik = as.numeric(logLik(m)),
     version = lme4_version())
