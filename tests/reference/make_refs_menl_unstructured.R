# Reference for menl's rescovariance(unstructured, t(occ)) on Loblolly with the random effect
# on the log rate constant: R's nlme corSymm(form = ~occ | Seed) + varIdent(form = ~1 | occ)
# (a free covariance matrix of the six occasions), Lindstrom-Bates, ML. Run from the
# repository root:
#   Rscript tests/reference/make_refs_menl_unstructured.R
# Writes tests/reference/menl/unstructured_loblolly_lrc_ml.json (layout of
# make_refs_menl_resid.R) plus the residual covariance matrix sigma^2 D C D (occasions in
# order) and the random-effect variance, which nlme drives to ~0 (a boundary optimum).
source(file.path("tests", "reference", "menl_nlme_helpers.R"))
lob <- as.data.frame(Loblolly)
lob$occ <- ave(lob$age, lob$Seed, FUN = rank)
f <- fit_nlme(height ~ Asym + (R0 - Asym) * exp(-exp(lrc) * age), data = lob,
              fixed = Asym + R0 + lrc ~ 1, random = lrc ~ 1 | Seed,
              correlation = corSymm(form = ~occ | Seed), weights = varIdent(form = ~1 | occ),
              start = c(Asym = 103, R0 = -8.5, lrc = -3.3), method = "ML")
stata <- paste("menl height = {b1}+({b2}-{b1})*exp(-exp({b3}+{U[Seed]})*age),",
               "initial(b1 103 b2 -8.5 b3 -3.3) rescovariance(unstructured, t(occ))")
corr <- corMatrix(f$modelStruct$corStruct)[[1]]
ratio <- coef(f$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
ratio <- ratio[order(as.numeric(names(ratio)))]
sds <- f$sigma * ratio
# (save_case's apVar intervals fail here: nlme's approximate covariance is not positive
# definite at this boundary optimum, so only the estimates are written)
ref <- list(software = sw, method = f$method, tight_control = attr(f, "tight"),
            loglik = as.numeric(logLik(f)), fixef = as.list(fixef(f)),
            fixef_se = as.list(sqrt(diag(f$varFix))), sigma = f$sigma,
            var_lrc = as.numeric(pdMatrix(f$modelStruct$reStruct)[[1]]) * f$sigma^2,
            residual_cov = unname(lapply(seq_len(6), function(i) (corr * outer(sds, sds))[i, ])),
            nobs = nobs(f))
case <- list(id = "unstructured_loblolly_lrc_ml", data = "loblolly.csv", stata = stata,
             reference = ref)
write(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
      file.path(out_dir, "unstructured_loblolly_lrc_ml.json"))
print(logLik(f)); print(fixef(f)); print(sqrt(diag(f$varFix))); print(ratio)
print(pdMatrix(f$modelStruct$reStruct)[[1]] * f$sigma^2); print(round(corr, 4))
