# Warm timing of lme4 on sleepstudy: Reaction ~ Days + (Days | Subject), ML.
# Usage: Rscript lmer_sleepstudy.R <sleepstudy.csv> [n = 200]
# Prints one JSON line: peer, model, median_s (of n whole lmer() calls after 3 warm-up fits), loglik.
local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", f[1])), "lmer_common.R"))
})

csv <- arg(1)
n <- as.integer(arg(2, "200"))
ss <- read.csv(csv)
ss$Subject <- factor(ss$Subject)

fit <- function() lmer(Reaction ~ Days + (Days | Subject), ss, REML = FALSE)
for (i in 1:3) m <- fit()
times <- vapply(seq_len(n), function(i) as.numeric(elapsed(fit())), 0)

emit(peer = "lme4", model = "sleepstudy", median_s = median(times), min_s = min(times), n = n,
     loglik = as.numeric(logLik(m)), version = lme4_version())
