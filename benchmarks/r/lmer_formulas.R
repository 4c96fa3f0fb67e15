# Warm timing of lme4 on sleepstudy formulas with factors and stateful transforms, ML.
# Usage: Rscript lmer_formulas.R <sleepstudy.csv> [n = 100]
# Prints one JSON line: peer, median_s per formula key (of n whole lmer() calls after 3 warm-ups).
local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", f[1])), "lmer_common.R"))
})
suppressPackageStartupMessages(library(splines))

ss <- read.csv(arg(1))
ss$Subject <- factor(ss$Subject)
ss$phase <- factor(c("a", "b", "c")[ss$Days %% 3 + 1])
n <- as.integer(arg(2, "100"))
formulas <- list(
  plain = Reaction ~ Days + (Days | Subject),
  factor = Reaction ~ Days * phase + (Days | Subject),
  transforms = Reaction ~ bs(Days, df = 4) + (scale(Days) | Subject)
)
out <- list()
for (key in names(formulas)) {
  fit <- function() lmer(formulas[[key]], ss, REML = FALSE)
  for (i in 1:3) m <- fit()
  times <- vapply(seq_len(n), function(i) as.numeric(elapsed(fit())), 0)
  out[[key]] <- list(median_s = median(times), loglik = as.numeric(logLik(m)))
}
emit(peer = "lme4", n = n, fits = out, version = lme4_version())
