# Reference cases for BLUPs, their standard errors, predictions and ICCs (mejax.inference).
# Run from the repository root:  Rscript tests/reference/make_refs_predict.R
# Writes tests/reference/cases/predict_*.json (data files already live in tests/reference/data).
# Needs lme4, nlme, numDeriv, jsonlite.
#
# Every BLUP standard error is computed twice: by lme4 (ranef(condVar = TRUE)) and
# independently from dense matrices, Var(b | y) = G - G Z' V^-1 Z G (beta known) and the
# comparative Var(b_hat - b) = G - G Z' P Z G, P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1.
# ICCs are computed from the variance components, their delta-method SEs from a numDeriv
# Hessian of a dense (restricted) log likelihood written here in the variances themselves.
suppressPackageStartupMessages({
  library(lme4); library(nlme); library(numDeriv); library(jsonlite)
})
dir <- "tests/reference"
save_case <- function(id, data, model, ref) {
  case <- list(id = id, data = paste0(data, ".csv"), model = model, reference = ref)
  write(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
        file.path(dir, "cases", paste0(id, ".json")))
}

# dense conditional and comparative variances of b for G, Z, X, V
dense_vars <- function(G, Z, X, V) {
  Vi <- solve(V)
  P <- Vi - Vi %*% X %*% solve(t(X) %*% Vi %*% X, t(X) %*% Vi)
  GZ <- G %*% t(Z)
  list(cond = diag(G - GZ %*% Vi %*% t(GZ)), comp = diag(G - GZ %*% P %*% t(GZ)))
}

# per term: level names, BLUPs, lme4 condVar SEs, dense conditional and comparative SEs
lmer_blups <- function(m) {
  Z <- as.matrix(getME(m, "Z")); X <- getME(m, "X"); s2 <- sigma(m)^2
  L <- as.matrix(getME(m, "Lambda"))
  G <- s2 * L %*% t(L)
  V <- Z %*% G %*% t(Z) + s2 * diag(nrow(Z))
  dv <- dense_vars(G, Z, X, V)
  re <- ranef(m, condVar = TRUE)
  # Z's columns: term after term (getME(m, "flist") order), level-major within a term
  cnms <- getME(m, "cnms"); start <- 0; out <- list()
  for (i in seq_along(cnms)) {
    g <- names(cnms)[i]; k <- length(cnms[[i]])
    tab <- re[[g]]; pv <- attr(tab, "postVar")
    nl <- nrow(tab); idx <- start + seq_len(nl * k); start <- start + nl * k
    term <- list(group = g, levels = rownames(tab), effects = cnms[[i]])
    for (j in seq_len(k)) {
      e <- cnms[[i]][j]
      term[[paste0("b_", e)]] <- tab[[e]]
      term[[paste0("se_lme4_", e)]] <- sqrt(pv[j, j, ])
      term[[paste0("se_cond_", e)]] <- sqrt(dv$cond[idx][seq(j, nl * k, by = k)])
      term[[paste0("se_comp_", e)]] <- sqrt(dv$comp[idx][seq(j, nl * k, by = k)])
    }
    out[[i]] <- term
  }
  out
}

## sleepstudy, random intercept and slope, REML
ss <- read.csv(file.path(dir, "data", "sleepstudy.csv"))
ss$Subject <- factor(ss$Subject)
m <- lmer(Reaction ~ Days + (Days | Subject), ss, REML = TRUE,
          control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-3, rhoend = 1e-10)))
new <- data.frame(Days = c(0, 5, 9, 3), Subject = c("308", "309", "999", "330"))
save_case("predict_sleepstudy_reml", "sleepstudy",
  list(formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE),
  list(software = "R lme4 1.1-31", loglik = as.numeric(logLik(m)), terms = lmer_blups(m),
       fitted = unname(fitted(m)), residuals = unname(residuals(m)),
       xb = unname(predict(m, re.form = NA)),
       new_data = new, new_fitted = unname(predict(m, newdata = new, allow.new.levels = TRUE)),
       new_xb = unname(predict(m, newdata = new, re.form = NA))))

## Pastes, nested random intercepts (batch/cask), ML
pas <- read.csv(file.path(dir, "data", "pastes.csv"))
m <- lmer(strength ~ 1 + (1 | batch/cask), pas, REML = FALSE,
          control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-3, rhoend = 1e-10)))
vc <- as.data.frame(VarCorr(m))
v_cask <- vc$vcov[vc$grp == "cask:batch"]; v_batch <- vc$vcov[vc$grp == "batch"]
v_e <- vc$vcov[vc$grp == "Residual"]

# dense ML / REML log likelihood in the variances v (one per Z block, residual last)
dense_loglik <- function(v, Zs, X, y, reml) {
  V <- v[length(v)] * diag(length(y))
  for (i in seq_along(Zs)) V <- V + v[i] * Zs[[i]] %*% t(Zs[[i]])
  Vi <- solve(V); XtViX <- t(X) %*% Vi %*% X
  beta <- solve(XtViX, t(X) %*% Vi %*% y); r <- y - X %*% beta
  ll <- -0.5 * (determinant(V)$modulus + t(r) %*% Vi %*% r + length(y) * log(2 * pi))
  if (reml) ll <- ll - 0.5 * (determinant(XtViX)$modulus - ncol(X) * log(2 * pi))
  as.numeric(ll)
}
icc_delta <- function(v, cov) {  # ICCs top level first: cumulative sums over the total
  total <- sum(v); m <- length(v) - 1; out <- list()
  for (j in seq_len(m)) {
    num <- sum(v[1:j]); g <- rep(-num / total^2, length(v)); g[1:j] <- g[1:j] + 1 / total
    rho <- num / total; se <- sqrt(drop(t(g) %*% cov %*% g))
    half <- qnorm(0.975) * se / (rho * (1 - rho))
    out[[j]] <- list(icc = rho, std_err = se, ci_lower = plogis(qlogis(rho) - half),
                     ci_upper = plogis(qlogis(rho) + half))
  }
  out
}
Zb <- model.matrix(~ 0 + factor(batch), pas)
Zc <- model.matrix(~ 0 + factor(paste(batch, cask)), pas)
v <- c(v_batch, v_cask, v_e)
H <- hessian(function(p) dense_loglik(p, list(Zb, Zc), matrix(1, nrow(pas), 1), pas$strength, FALSE), v)
save_case("predict_pastes_nested_ml", "pastes",
  list(formula = "strength ~ 1 + (1 | batch/cask)", reml = FALSE,
       stata = "mixed strength || batch: || cask:"),
  list(software = "R lme4 1.1-31 + numDeriv", loglik = as.numeric(logLik(m)),
       terms = lmer_blups(m), fitted = unname(fitted(m)),
       variances = list(batch = v_batch, cask = v_cask, residual = v_e),
       icc = icc_delta(v, solve(-H)), icc_levels = c("batch", "cask|batch")))

## sleepstudy random intercept, REML: two-level ICC with a covariate
m <- lmer(Reaction ~ Days + (1 | Subject), ss, REML = TRUE,
          control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-3, rhoend = 1e-10)))
vc <- as.data.frame(VarCorr(m)); v <- vc$vcov  # Subject, Residual
Zs <- model.matrix(~ 0 + Subject, ss); X <- model.matrix(~ Days, ss)
H <- hessian(function(p) dense_loglik(p, list(Zs), X, ss$Reaction, TRUE), v)
save_case("predict_sleepstudy_intercept_reml", "sleepstudy",
  list(formula = "Reaction ~ Days + (1 | Subject)", reml = TRUE,
       stata = "mixed Reaction Days || Subject:, reml"),
  list(software = "R lme4 1.1-31 + numDeriv", loglik = as.numeric(logLik(m)),
       terms = lmer_blups(m), icc = icc_delta(v, solve(-H)), icc_levels = c("Subject")))

## Penicillin, crossed random intercepts, REML
pen <- read.csv(file.path(dir, "data", "penicillin.csv"))
m <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), pen, REML = TRUE,
          control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-3, rhoend = 1e-10)))
save_case("predict_penicillin_crossed_reml", "penicillin",
  list(formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", reml = TRUE),
  list(software = "R lme4 1.1-31", loglik = as.numeric(logLik(m)), terms = lmer_blups(m),
       fitted = unname(fitted(m))))

## sleepstudy, random intercept + AR(1) residuals within Subject (t = Days), ML, nlme
f <- lme(Reaction ~ Days, random = ~ 1 | Subject, data = ss, method = "ML",
         correlation = corAR1(form = ~ Days | Subject),
         control = lmeControl(tolerance = 1e-10, msTol = 1e-10, opt = "optim"))
rho <- as.numeric(coef(f$modelStruct$corStruct, unconstrained = FALSE))
s2 <- f$sigma^2; g2 <- as.numeric(getVarCov(f)[1, 1])
Z <- model.matrix(~ 0 + Subject, ss); X <- model.matrix(~ Days, ss)
R <- matrix(0, nrow(ss), nrow(ss))
for (s in unique(ss$Subject)) {
  i <- which(ss$Subject == s); R[i, i] <- rho^abs(outer(ss$Days[i], ss$Days[i], "-"))
}
G <- g2 * diag(ncol(Z)); V <- Z %*% G %*% t(Z) + s2 * R
beta <- fixef(f); b <- drop(G %*% t(Z) %*% solve(V, ss$Reaction - X %*% beta))
dv <- dense_vars(G, Z, X, V)
save_case("predict_sleepstudy_ar1_ml", "sleepstudy",
  list(formula = "Reaction ~ Days + (1 | Subject)", reml = FALSE,
       residuals = list(type = "ar", order = 1, t = "Days", group = "Subject")),
  list(software = "R nlme 3.1-162 (BLUPs and SEs from dense matrices)",
       loglik = as.numeric(logLik(f)), rho = rho, sigma2 = s2, var_subject = g2,
       terms = list(list(group = "Subject", levels = rownames(ranef(f)), effects = "(Intercept)",
                         "b_(Intercept)" = b, "b_nlme_(Intercept)" = ranef(f)[, 1],
                         "se_cond_(Intercept)" = sqrt(dv$cond),
                         "se_comp_(Intercept)" = sqrt(dv$comp))),
       fitted = unname(fitted(f))))
