# Fresh-process lme4 fit of the compile-time benchmark (run_compile_p.py): a random-intercept
# model with x and a factor f, lmer (ML) or glmer (nAGQ = 7), then summary().
# Usage: Rscript compile_p.R <mixed|melogit> <data.csv>
# Prints one JSON line: peer, model, fit_s (fit + summary inside the process), loglik, version.
local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", f[1])), "lmer_common.R"))
})

kind <- arg(1)
d <- read.csv(arg(2))
d$f <- factor(d$f)
d$g <- factor(d$g)
rhs <- if (nlevels(d$f) > 1) "x + f" else "x"
fit_s <- elapsed({
  m <- if (kind == "mixed") {
    lmer(as.formula(paste("y ~", rhs, "+ (1 | g)")), d, REML = FALSE)
  } else {
    glmer(as.formula(paste("b ~", rhs, "+ (1 | g)")), d, family = binomial, nAGQ = 7)
  }
  s <- summary(m)
})
emit(peer = "lme4", model = kind, fit_s = as.numeric(fit_s), loglik = as.numeric(logLik(m)),
     version = lme4_version())
