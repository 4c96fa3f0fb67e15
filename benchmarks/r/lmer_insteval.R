# One fit of lme4 on InstEval: y ~ service + (1 | s) + (1 | d) + (1 | dept:service), ML.
# Usage: Rscript lmer_insteval.R <insteval.csv[.gz]>
# Prints one JSON line: peer, model, read_s, fit_s (in-process seconds of the lmer() call), loglik.
# The caller times the whole Rscript process (startup, library(lme4), reading, fitting) from outside.
local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", f[1])), "lmer_common.R"))
})

csv <- arg(1)
read_s <- elapsed({
  ie <- read.csv(csv)
  for (v in c("s", "d", "dept", "service")) ie[[v]] <- factor(ie[[v]])
})
fit_s <- elapsed(lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept:service), ie, REML = FALSE))
m <- attr(fit_s, "value")

emit(peer = "lme4", model = "insteval", read_s = as.numeric(read_s), fit_s = as.numeric(fit_s),
     loglik = as.numeric(logLik(m)), nobs = nobs(m), version = lme4_version())
